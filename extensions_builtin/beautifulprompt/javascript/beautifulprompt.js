// BeautifulPrompt tab: Enter in the input expands the prompt, Shift+Enter starts a new line. (Gradio's own
// textbox submits on Shift+Enter and swallows the newline, so its handler is kept from seeing either key.)
(function () {
    "use strict";

    function inInput(event) {
        if (event.key !== "Enter" || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return false;
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        return target instanceof Element && Boolean(target.closest("#beautifulprompt_input"));
    }

    // Gradio listens to keypress: Shift+Enter keeps the browser's default there (a newline in the textarea).
    document.addEventListener("keypress", (event) => { if (inInput(event)) event.stopPropagation(); }, true);

    document.addEventListener("keydown", (event) => {
        if (!inInput(event) || event.shiftKey) return;
        const app = document.querySelector("gradio-app");
        const root = (app && app.shadowRoot) || document;
        const button = root.querySelector("#beautifulprompt_expand");
        if (!button) return;
        event.preventDefault();
        event.stopPropagation();
        button.click();
    }, true);
})();
