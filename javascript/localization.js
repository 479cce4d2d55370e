// Localization (A1111 format): a flat {"English text": "translation"} object, chosen in Settings > User interface
// > Localization and sent by the server on page load. Text nodes, placeholders and titles whose whole (trimmed)
// text is a key are translated, and stay so as the page changes. Values the user types or picks (prompts,
// dropdown values, file names) are never touched.
/* global gradioApp */

(function () {
    "use strict";

    let mapping = {};
    const SKIP = "textarea, input, select, code, pre, script, style, .prompt, [contenteditable], .fb-name, " +
        ".card-name, [role='listbox'], .options, .token, .easel-infotext, .extra-network-cards";

    function translated(text) {
        if (!text) return null;
        const key = text.trim();
        if (!key || !Object.prototype.hasOwnProperty.call(mapping, key)) return null;
        return text.replace(key, mapping[key]);
    }

    window.easelTranslate = function (text) {
        const value = translated(text);
        return value === null ? text : value;
    };

    function skipped(node) {
        const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
        return !element || Boolean(element.closest(SKIP));
    }

    function translateNode(node) {
        if (node.nodeType === Node.TEXT_NODE) {
            if (skipped(node)) return;
            const value = translated(node.nodeValue);
            if (value !== null && value !== node.nodeValue) node.nodeValue = value;
            return;
        }
        if (node.nodeType !== Node.ELEMENT_NODE || skipped(node)) return;
        for (const attr of ["placeholder", "title"]) {
            if (node.hasAttribute && node.hasAttribute(attr)) {
                const value = translated(node.getAttribute(attr));
                if (value !== null && value !== node.getAttribute(attr)) node.setAttribute(attr, value);
            }
        }
        const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
        let current = walker.nextNode();
        while (current) {
            if (current.nodeType === Node.TEXT_NODE) {
                if (!skipped(current)) {
                    const value = translated(current.nodeValue);
                    if (value !== null && value !== current.nodeValue) current.nodeValue = value;
                }
            } else if (current.hasAttribute) {
                for (const attr of ["placeholder", "title"]) {
                    if (current.hasAttribute(attr) && !current.closest(".prompt, .fb-name, .card-name")) {
                        const value = translated(current.getAttribute(attr));
                        if (value !== null && value !== current.getAttribute(attr)) current.setAttribute(attr, value);
                    }
                }
            }
            current = walker.nextNode();
        }
    }

    window.easelLocalize = function (text) {
        try {
            mapping = JSON.parse(text || "{}") || {};
        } catch (_e) {
            mapping = {};
        }
        if (!Object.keys(mapping).length) return;
        document.documentElement.lang = document.documentElement.lang || "x-localized";
        const root = gradioApp();
        translateNode(root.body || root);
        new MutationObserver((records) => {
            for (const record of records) {
                if (record.type === "characterData") translateNode(record.target);
                for (const added of record.addedNodes || []) translateNode(added);
                if (record.type === "attributes") translateNode(record.target);
            }
        }).observe(root.body || root, {childList: true, subtree: true, characterData: true, attributes: true,
            attributeFilter: ["placeholder", "title"]});
        if (window.easelApplyHints) window.easelApplyHints();
    };
})();
