// Hover hints: every tool button (and other elements named in window.easelHints, filled by the server from
// modules/ui/icons.py) gets its text as `title` and `aria-label`, translated when a localization is active.
/* global gradioApp */

(function () {
    "use strict";

    let scheduled = false;

    function apply() {
        scheduled = false;
        const hints = window.easelHints || {};
        const translate = window.easelTranslate || ((text) => text);
        for (const [id, text] of Object.entries(hints)) {
            const element = gradioApp().querySelector("#" + CSS.escape(id));
            if (!element) continue;
            const target = element.tagName === "BUTTON" ? element : (element.querySelector("button") || element);
            const shown = translate(text);
            if (target.title !== shown) target.title = shown;
            if (target.tagName === "BUTTON" && !target.textContent.trim() &&
                target.getAttribute("aria-label") !== shown) target.setAttribute("aria-label", shown);
        }
    }

    function schedule() {
        if (scheduled) return;
        scheduled = true;
        requestAnimationFrame(apply);
    }

    window.easelApplyHints = schedule;
    new MutationObserver(schedule).observe(document.documentElement, {childList: true, subtree: true});
    schedule();
})();
