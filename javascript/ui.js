// Easel WebUI helpers (A1111 habits): task ids made in the browser for progress polling, Ctrl+Enter to generate.
/* exported gradioApp, updateInput */

function gradioApp() {
    const app = document.querySelector("gradio-app");
    return (app && app.shadowRoot) || document;
}

function updateInput(target) {
    target.dispatchEvent(new Event("input", {bubbles: true}));
}

(function () {
    "use strict";

    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const tasks = {};

    function newTaskId(tab) {
        const bytes = crypto.getRandomValues(new Uint8Array(12));
        return "task(" + tab + "-" + Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("") + ")";
    }

    // The Generate button's js= callback: the first input is the hidden id_task box; the browser names the
    // task so it can poll /internal/progress for it while Gradio waits for the result.
    window.easelSubmit = function (tab, args) {
        const id = newTaskId(tab);
        tasks[tab] = id;
        const values = Array.from(args);
        values[0] = id;
        if (typeof window.requestProgress === "function") window.requestProgress(id, tab);
        return values;
    };

    // Interrupt / Skip: act on this tab's last task.
    window.easelCurrentTask = function (tab, fallback) {
        return [tasks[tab] || fallback || ""];
    };

    function tabOf(element) {
        const host = element && element.closest ? element.closest("#tab_txt2img, #tab_img2img") : null;
        return host ? host.id.replace("tab_", "") : null;
    }

    // Ctrl+Enter (Cmd+Enter) in txt2img/img2img starts generating.
    document.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        const tab = tabOf(target);
        if (!tab) return;
        const button = gradioApp().querySelector("#" + tab + "_generate");
        if (!button) return;
        event.preventDefault();
        button.click();
    });
})();
