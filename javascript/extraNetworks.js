// Extra Networks cards (modules/ui/extra_networks.py renders them): a click on a card inserts its tag into the
// tab's prompt (a second click removes it again, A1111's habit) or selects the checkpoint; the search box and the
// sort order work in the browser; "i" shows the metadata, the other button replaces the preview with the selected
// result image (through the page's hidden action box).
/* global gradioApp, updateInput */

(function () {
    "use strict";

    function promptArea(tab) {
        return gradioApp().querySelector("#" + tab + "_prompt textarea");
    }

    function toggleText(area, text) {
        const value = area.value;
        if (value.includes(text)) {
            area.value = value.replace(text, "").replace(/ {2,}/g, " ").trim();
        } else {
            area.value = value.trim() ? value.replace(/\s+$/, "") + " " + text : text;
        }
        updateInput(area);
    }

    function action(tab, payload) {
        const box = gradioApp().querySelector("#" + tab + "_extra_networks_action textarea, #" + tab +
            "_extra_networks_action input");
        const button = gradioApp().querySelector("#" + tab + "_extra_networks_run");
        if (!box || !button) return;
        box.value = JSON.stringify(payload);
        updateInput(box);
        setTimeout(() => button.click(), 50);
    }

    function closeModal() {
        const modal = document.querySelector("#easel_metadata_modal");
        if (modal) modal.remove();
    }

    function cell(tag, text) {
        const node = document.createElement(tag);
        node.textContent = text;
        return node;
    }

    async function showMetadata(page, name) {
        closeModal();
        const modal = document.createElement("div");
        modal.id = "easel_metadata_modal";
        modal.className = "easel-modal";
        const box = document.createElement("div");
        box.className = "easel-modal-box";
        const close = cell("button", "\u00d7");
        close.className = "easel-modal-close";
        close.title = "Close";
        close.addEventListener("click", closeModal);
        modal.addEventListener("click", (event) => { if (event.target === modal) closeModal(); });
        box.append(close, cell("h3", name));
        modal.append(box);
        document.body.append(modal);
        try {
            const query = new URLSearchParams({page, name});
            const response = await fetch("internal/extra-networks/metadata?" + query, {credentials: "same-origin"});
            const data = await response.json();
            if (!response.ok) throw new Error(data.detail || response.statusText);
            const table = document.createElement("table");
            table.className = "easel-metadata";
            const rows = [["file", data.file], ["size", String(data.size) + " bytes"]];
            for (const [key, value] of Object.entries(data.metadata || {})) {
                if (key === "ss_tag_frequency") continue;
                rows.push([key, typeof value === "string" ? value : JSON.stringify(value)]);
            }
            for (const [key, value] of rows) {
                const tr = document.createElement("tr");
                tr.append(cell("th", key), cell("td", value));
                table.append(tr);
            }
            box.append(table);
            if ((data.tags || []).length) {
                box.append(cell("h4", "Training tags"));
                const tags = document.createElement("div");
                tags.className = "easel-tags";
                for (const [tag, count] of data.tags) tags.append(cell("span", tag + " (" + count + ")"));
                box.append(tags);
            }
            if (!rows.length || (rows.length === 2 && !(data.tags || []).length)) {
                box.append(cell("p", "No metadata in this file."));
            }
        } catch (error) {
            box.append(cell("p", String(error.message || error)));
        }
    }

    function filterAndSort(pageNode) {
        const search = pageNode.querySelector(".extra-network-search");
        const sort = pageNode.querySelector(".extra-network-sort");
        const direction = pageNode.dataset.sortReverse === "true" ? -1 : 1;
        const words = (search ? search.value : "").toLowerCase().split(/\s+/).filter(Boolean);
        const holder = pageNode.querySelector(".extra-network-cards");
        if (!holder) return;
        const cards = [...holder.querySelectorAll(".card")];
        for (const card of cards) {
            const hit = words.every((w) => card.dataset.search.includes(w));
            card.classList.toggle("easel-hidden", !hit);
        }
        const key = "sort" + (sort ? sort.value : "name").replace(/^./, (c) => c.toUpperCase());
        cards.sort((a, b) => direction * String(a.dataset[key]).localeCompare(String(b.dataset[key])));
        for (const card of cards) holder.append(card);
    }

    document.addEventListener("click", (event) => {
        const path = event.composedPath ? event.composedPath() : [event.target];
        const target = path[0];
        if (!(target instanceof Element)) return;
        const pageNode = target.closest(".extra-network-page");
        if (!pageNode) return;
        const tab = pageNode.dataset.tab;
        const page = pageNode.dataset.page;
        if (target.closest(".extra-network-sort-dir")) {
            pageNode.dataset.sortReverse = pageNode.dataset.sortReverse === "true" ? "false" : "true";
            filterAndSort(pageNode);
            return;
        }
        const card = target.closest(".card");
        if (!card) return;
        event.preventDefault();
        const name = card.dataset.name;
        if (target.closest(".card-metadata")) { showMetadata(page, name); return; }
        if (target.closest(".card-replace-preview")) { action(tab, {action: "replace_preview", page, name}); return; }
        if (page === "checkpoints") { action(tab, {action: "checkpoint", page, name}); return; }
        const area = promptArea(tab);
        if (area && card.dataset.insert) toggleText(area, card.dataset.insert);
    }, true);

    document.addEventListener("input", (event) => {
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        if (target instanceof Element && target.matches(".extra-network-search")) {
            filterAndSort(target.closest(".extra-network-page"));
        }
    }, true);

    document.addEventListener("change", (event) => {
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        if (target instanceof Element && target.matches(".extra-network-sort")) {
            filterAndSort(target.closest(".extra-network-page"));
        }
    }, true);

    document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeModal(); });
})();
