// Easel WebUI helpers (A1111 habits): task ids made in the browser for progress polling, Ctrl+Enter to generate
// (or to queue another generation while one runs), copying text, opening a folder in the FileBrowser, reloading
// the page once a restarted server answers again.
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
    const lastTask = {};

    function newTaskId(tab) {
        const bytes = crypto.getRandomValues(new Uint8Array(12));
        return "task(" + tab + "-" + Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("") + ")";
    }

    // The Generate button's js= callback: the first input is the hidden id_task box; the browser names the
    // task so it can poll /internal/progress for it while Gradio waits for the result.
    window.easelSubmit = function (tab, args) {
        const id = newTaskId(tab);
        lastTask[tab] = id;
        const values = Array.from(args);
        values[0] = id;
        if (typeof window.requestProgress === "function") window.requestProgress(id, tab);
        return values;
    };

    // "Queue another": the same as pressing Generate again.
    window.easelEnqueue = function (tab) {
        const button = gradioApp().querySelector("#" + tab + "_generate");
        if (button) button.click();
    };

    // Interrupt / Skip: act on the tab's running task.
    window.easelCurrentTask = function (tab, fallback) {
        const active = typeof window.easelActiveTask === "function" ? window.easelActiveTask(tab) : null;
        return [active || lastTask[tab] || fallback || ""];
    };

    window.easelCopyText = function (text) {
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).catch(() => fallbackCopy(text));
        } else {
            fallbackCopy(text);
        }
    };

    function fallbackCopy(text) {
        const area = document.createElement("textarea");
        area.value = text;
        area.style.position = "fixed";
        area.style.opacity = "0";
        document.body.append(area);
        area.select();
        try { document.execCommand("copy"); } catch (_e) { /* nothing more to try */ }
        area.remove();
    }

    function findTabButton(name) {
        const buttons = [...gradioApp().querySelectorAll("#tabs > .tab-wrapper button[role='tab'], " +
            "#tabs button[role='tab'], .overflow-dropdown button")];
        return buttons.find((b) => b.textContent.trim() === name ||
            (b.id && b.id.replace(/-button$/, "") === "tab_" + name.toLowerCase()));
    }

    window.easelSelectTab = function (name) {
        const button = findTabButton(name);
        if (button) button.click();
        return Boolean(button);
    };

    // Open `path` (relative to the data dir) in the FileBrowser tab.
    window.easelOpenInFileBrowser = function (path) {
        window.easelSelectTab("FileBrowser");
        let tries = 0;
        const timer = setInterval(() => {
            const root = gradioApp().querySelector("#filebrowser-root");
            if (root && root.filebrowser) {
                clearInterval(timer);
                root.filebrowser.load(path || "");
            } else if (++tries > 50) {
                clearInterval(timer);
            }
        }, 100);
    };

    // After a restart request: wait until the server has gone and answers again, then reload the page.
    window.easelReloadWhenBack = function () {
        let wentDown = false;
        const started = Date.now();
        async function check() {
            let up = false;
            try {
                const response = await fetch("internal/ping", {cache: "no-store"});
                up = response.ok || response.status === 401;
            } catch (_e) {
                up = false;
            }
            if (!up) wentDown = true;
            if (up && (wentDown || Date.now() - started > 60000)) {
                window.location.reload();
                return;
            }
            setTimeout(check, 500);
        }
        setTimeout(check, 700);
    };

    function tabOf(element) {
        const host = element && element.closest ? element.closest("#tab_txt2img, #tab_img2img") : null;
        return host ? host.id.replace("tab_", "") : null;
    }

    // Ctrl+Enter (Cmd+Enter) in txt2img/img2img generates (queues another while one runs).
    document.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        const tab = tabOf(target);
        if (!tab) return;
        event.preventDefault();
        window.easelEnqueue(tab);
    });
})();
