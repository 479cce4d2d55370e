// Settings tab: the sidebar shows one section at a time ("Show all pages" shows every one) and the search box
// shows the settings whose label or key matches, across all sections (A1111 1.6+ behaviour).
/* global gradioApp */

(function () {
    "use strict";

    let current = null;

    function sections() {
        return [...gradioApp().querySelectorAll(".easel-settings-section")];
    }

    function sectionId(section) {
        return section.id.replace(/^settings_section_/, "");
    }

    function show(name) {
        current = name;
        for (const section of sections()) {
            section.classList.toggle("easel-hidden-section", name !== "*" && sectionId(section) !== name);
        }
        for (const link of gradioApp().querySelectorAll(".easel-settings-nav a")) {
            link.classList.toggle("selected", link.dataset.section === name);
        }
    }

    function search(text) {
        const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
        for (const section of sections()) {
            let any = false;
            for (const item of section.querySelectorAll("[id^='setting_']")) {
                const block = item.closest(".block") || item;
                const haystack = (item.id.slice(8) + " " + item.textContent).toLowerCase();
                const hit = !words.length || words.every((w) => haystack.includes(w));
                block.classList.toggle("easel-search-miss", !hit);
                any = any || hit;
            }
            section.classList.toggle("easel-search-empty", Boolean(words.length) && !any);
        }
        if (words.length) {
            for (const section of sections()) section.classList.remove("easel-hidden-section");
        } else {
            show(current || firstSection());
        }
    }

    function firstSection() {
        const first = sections()[0];
        return first ? sectionId(first) : "*";
    }

    function setUp() {
        const nav = gradioApp().querySelector(".easel-settings-nav");
        if (!nav || nav.dataset.ready) return;
        nav.dataset.ready = "true";
        nav.addEventListener("click", (event) => {
            const link = event.target.closest("a[data-section]");
            if (!link) return;
            event.preventDefault();
            const box = gradioApp().querySelector("#settings_search input, #settings_search textarea");
            if (box && box.value) { box.value = ""; box.dispatchEvent(new Event("input", {bubbles: true})); search(""); }
            show(link.dataset.section);
        });
        const box = gradioApp().querySelector("#settings_search input, #settings_search textarea");
        if (box) box.addEventListener("input", () => search(box.value));
        show(firstSection());
    }

    new MutationObserver(setUp).observe(document.documentElement, {childList: true, subtree: true});
})();
