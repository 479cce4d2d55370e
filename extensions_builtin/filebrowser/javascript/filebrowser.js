// FileBrowser tab: a small self-contained file browser over /filebrowser/api (list, download, thumbnails,
// info, mkdir, move, delete) with resumable tus 1.0.0 uploads. Loaded into the page head by the WebUI; it
// waits for the tab's host element (#filebrowser-root) to appear and mounts once.
// Every file name is inserted with textContent (never innerHTML): names are attacker-controlled.
(function () {
    "use strict";

    const TUS = "1.0.0";
    const PAGE = 500;
    const MIN_CHUNK = 256 * 1024;

    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attrs || {})) {
            if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
            else if (value !== undefined && value !== null) node.setAttribute(key, value);
        }
        for (const child of children) {
            if (child !== null && child !== undefined) {
                node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
        }
        return node;
    }

    function humanSize(bytes) {
        const units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let size = bytes, unit = 0;
        while (size >= 1024 && unit < units.length - 1) { size /= 1024; unit++; }
        return (unit ? size.toFixed(1) : String(size)) + " " + units[unit];
    }

    function joinPath(folder, name) { return folder ? folder + "/" + name : name; }

    async function errorText(response) {
        try {
            const body = await response.json();
            const detail = body.detail !== undefined ? body.detail : body;
            return typeof detail === "string" ? detail : JSON.stringify(detail);
        } catch (_e) {
            return response.status + " " + response.statusText;
        }
    }

    class Browser {
        constructor(root) {
            this.root = root;
            this.api = root.dataset.api || "/filebrowser/api";
            this.readonly = root.dataset.readonly === "true";
            this.chunk = parseInt(root.dataset.chunk || "8388608", 10);
            this.cwd = "";
            this.entries = [];
            this.total = 0;
            this.selected = new Set();
            this.infotexts = new Map();
            this.build();
            this.load("");
        }

        url(route, params) {
            const query = new URLSearchParams(params || {}).toString();
            return this.api + route + (query ? "?" + query : "");
        }

        async call(route, options, params) {
            const response = await fetch(this.url(route, params), Object.assign({credentials: "same-origin"}, options));
            if (!response.ok) throw new Error(await errorText(response));
            return response.json();
        }

        json(method, body) {
            return {method, headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
        }

        status(text, isError) {
            this.statusLine.textContent = text || "";
            this.statusLine.classList.toggle("fb-error", Boolean(isError));
        }

        button(label, onclick, attrs) {
            return el("button", Object.assign({type: "button", class: "fb-button", onclick}, attrs || {}), label);
        }

        build() {
            this.root.textContent = "";
            this.crumbs = el("div", {class: "fb-crumbs"});
            this.fileInput = el("input", {type: "file", multiple: "", class: "fb-hidden",
                onchange: () => this.uploadFiles(Array.from(this.fileInput.files))});
            const buttons = [
                this.button("Up", () => this.load(this.parent()), {title: "Parent folder"}),
                this.button("Refresh", () => this.load(this.cwd)),
            ];
            if (!this.readonly) {
                buttons.push(this.button("New folder", () => this.mkdir()));
                buttons.push(this.button("Upload", () => this.fileInput.click(), {class: "fb-button fb-primary"}));
            }
            this.overwrite = el("input", {type: "checkbox"});
            if (!this.readonly) buttons.push(el("label", {class: "fb-check"}, this.overwrite, " overwrite"));
            this.selectionCount = el("span", {class: "fb-selection-count"});
            const bulk = [this.selectionCount, this.button("Download zip", () => this.zipSelected(), {class: "fb-button fb-bulk-zip"})];
            if (!this.readonly) {
                bulk.push(this.button("Move to...", () => this.moveSelected(), {class: "fb-button fb-bulk-move"}));
                bulk.push(this.button("Delete", () => this.removeSelected(), {class: "fb-button fb-danger fb-bulk-delete"}));
            }
            bulk.push(this.button("Clear selection", () => { this.selected.clear(); this.render(); }));
            this.bulkBar = el("div", {class: "fb-bulk fb-hidden"}, ...bulk);
            this.statusLine = el("div", {class: "fb-status"});
            this.uploads = el("div", {class: "fb-uploads"});
            this.tbody = el("tbody");
            this.more = el("button", {type: "button", class: "fb-button fb-hidden", onclick: () => this.loadMore()}, "Load more");
            this.infoBox = el("div", {class: "fb-info fb-hidden"});
            this.hover = el("div", {class: "fb-hover fb-hidden"});
            this.selectAll = el("input", {type: "checkbox", title: "Select all", class: "fb-select-all",
                onchange: () => this.toggleAll(this.selectAll.checked)});
            const head = el("tr", {}, el("th", {class: "fb-col-check"}, this.selectAll), el("th", {}, ""),
                el("th", {}, "Name"), el("th", {class: "fb-col-size"}, "Size"), el("th", {class: "fb-col-sha"}, "SHA256"),
                el("th", {class: "fb-col-date"}, "Modified"), el("th", {}, ""));
            this.dropHint = el("div", {class: "fb-drop-hint"}, "Drop files here to upload them into this folder");
            this.tableBox = el("div", {class: "fb-table-box"},
                el("table", {class: "fb-table"}, el("thead", {}, head), this.tbody), this.dropHint);
            this.root.append(
                el("div", {class: "fb-toolbar"}, ...buttons, this.fileInput),
                this.crumbs, this.bulkBar, this.statusLine, this.uploads, this.infoBox, this.tableBox, this.more,
                this.hover,
            );
            if (this.readonly) this.status("Read-only mode: browsing and downloads only.");
            this.root.addEventListener("dragover", (event) => {
                event.preventDefault();
                if (!this.readonly) this.root.classList.add("fb-dragover");
            });
            this.root.addEventListener("dragleave", (event) => {
                if (!this.root.contains(event.relatedTarget)) this.root.classList.remove("fb-dragover");
            });
            this.root.addEventListener("drop", (event) => {
                event.preventDefault();
                this.root.classList.remove("fb-dragover");
                if (!this.readonly && event.dataTransfer) this.uploadFiles(Array.from(event.dataTransfer.files));
            });
        }

        parent() { return this.cwd.split("/").slice(0, -1).join("/"); }

        renderCrumbs() {
            this.crumbs.textContent = "";
            this.crumbs.append(el("a", {href: "#", onclick: (e) => { e.preventDefault(); this.load(""); }}, "data"));
            let acc = "";
            for (const part of this.cwd ? this.cwd.split("/") : []) {
                acc = joinPath(acc, part);
                const target = acc;
                this.crumbs.append(" / ", el("a", {href: "#", onclick: (e) => { e.preventDefault(); this.load(target); }}, part));
            }
        }

        async load(path) {
            this.closeInfo();
            this.hideHover();
            try {
                const listing = await this.call("/list", {}, {path, offset: 0, limit: PAGE});
                if (listing.path !== this.cwd) this.selected.clear();
                this.cwd = listing.path;
                this.entries = listing.entries;
                this.total = listing.total;
                this.renderCrumbs();
                this.render();
                if (!this.readonly) this.status("");
            } catch (error) {
                this.status(error.message, true);
            }
        }

        async loadMore() {
            try {
                const listing = await this.call("/list", {}, {path: this.cwd, offset: this.entries.length, limit: PAGE});
                this.entries = this.entries.concat(listing.entries);
                this.render();
            } catch (error) {
                this.status(error.message, true);
            }
        }

        render() {
            this.tbody.textContent = "";
            const paths = new Set(this.entries.map((e) => e.path));
            for (const path of [...this.selected]) if (!paths.has(path)) this.selected.delete(path);
            for (const entry of this.entries) this.tbody.append(this.row(entry));
            this.more.classList.toggle("fb-hidden", this.entries.length >= this.total);
            this.updateBulk();
        }

        updateBulk() {
            const count = this.selected.size;
            this.bulkBar.classList.toggle("fb-hidden", count === 0);
            this.selectionCount.textContent = count + " selected";
            this.selectAll.checked = count > 0 && count === this.entries.filter((e) => !e.outside).length;
        }

        toggleAll(on) {
            this.selected.clear();
            if (on) for (const entry of this.entries) if (!entry.outside) this.selected.add(entry.path);
            this.render();
        }

        row(entry) {
            const icon = entry.is_image
                ? el("img", {class: "fb-thumb", loading: "lazy", alt: "", src: this.url("/thumbnail", {path: entry.path, size: 64})})
                : el("span", {class: "fb-icon " + (entry.is_dir ? "fb-icon-folder" : (entry.outside ? "fb-icon-blocked" : "fb-icon-file")),
                    "aria-hidden": "true"});
            const name = entry.is_dir
                ? el("a", {href: "#", onclick: (e) => { e.preventDefault(); this.load(entry.path); }}, entry.name)
                : (entry.outside ? el("span", {title: "symlink out of the data dir"}, entry.name)
                    : el("a", {href: this.url("/download", {path: entry.path})}, entry.name));
            const nameCell = el("td", {class: "fb-name"}, name);
            if (entry.in_use) nameCell.append(el("span", {class: "fb-badge", title: "The server uses this file now"}, entry.in_use));
            const check = el("input", {type: "checkbox", class: "fb-select", "aria-label": "Select " + entry.name,
                onchange: () => { if (check.checked) this.selected.add(entry.path); else this.selected.delete(entry.path); this.updateBulk(); }});
            check.checked = this.selected.has(entry.path);
            if (entry.outside) check.disabled = true;
            const actions = el("td", {class: "fb-actions"});
            if (!entry.outside) {
                actions.append(el("a", {class: "fb-button fb-link", href: this.url("/download", {path: entry.path}), title: "Download"}, entry.is_dir ? "Zip" : "Download"));
                actions.append(this.button("Info", () => this.info(entry)));
            }
            actions.append(this.button("Copy path", () => this.copyPath(entry), {title: "Copy the path (inside the data dir)"}));
            if (!this.readonly) {
                if (!entry.outside) actions.append(this.button("Move", () => this.move(entry)));
                actions.append(this.button("Delete", () => this.remove(entry), {class: "fb-button fb-danger"}));
            }
            const sha = entry.sha256
                ? el("code", {title: entry.sha256}, entry.sha256.slice(0, 10))
                : (!entry.is_dir && entry.path.startsWith("models/") && !entry.outside
                    ? el("a", {href: "#", class: "fb-compute", title: "Compute the sha256 (reads the whole file)",
                        onclick: (e) => { e.preventDefault(); this.info(entry); }}, "compute") : "");
            const tr = el("tr", {class: entry.in_use ? "fb-in-use" : ""}, el("td", {class: "fb-col-check"}, check),
                el("td", {}, icon), nameCell,
                el("td", {class: "fb-col-size"}, entry.is_dir ? "" : humanSize(entry.size)),
                el("td", {class: "fb-col-sha"}, sha),
                el("td", {class: "fb-col-date"}, new Date(entry.modified).toLocaleString()), actions);
            tr.dataset.path = entry.path;
            if (entry.is_image) {
                tr.addEventListener("mouseenter", (event) => this.showHover(entry, event));
                tr.addEventListener("mousemove", (event) => this.placeHover(event));
                tr.addEventListener("mouseleave", () => this.hideHover());
            }
            return tr;
        }

        async showHover(entry, event) {
            this.hoverPath = entry.path;
            this.hover.textContent = "";
            const img = el("img", {alt: "", src: this.url("/thumbnail", {path: entry.path, size: 256})});
            const text = el("pre", {class: "fb-hover-text"}, this.infotexts.get(entry.path) || "");
            this.hover.append(img, text);
            this.hover.classList.remove("fb-hidden");
            this.placeHover(event);
            if (!this.infotexts.has(entry.path)) {
                try {
                    const info = await this.call("/info", {}, {path: entry.path, sha256: "false"});
                    const value = (info.image && info.image.infotext) || "";
                    this.infotexts.set(entry.path, value);
                    if (this.hoverPath === entry.path) text.textContent = value;
                } catch (_e) {
                    this.infotexts.set(entry.path, "");
                }
            }
        }

        placeHover(event) {
            const x = Math.min(event.clientX + 18, window.innerWidth - 300);
            const y = Math.min(event.clientY + 12, window.innerHeight - 320);
            this.hover.style.left = Math.max(0, x) + "px";
            this.hover.style.top = Math.max(0, y) + "px";
        }

        hideHover() {
            this.hoverPath = null;
            this.hover.classList.add("fb-hidden");
        }

        closeInfo() {
            this.infoBox.classList.add("fb-hidden");
            this.infoBox.textContent = "";
        }

        async info(entry) {
            this.infoBox.classList.remove("fb-hidden");
            this.infoBox.textContent = "";
            const close = this.button("Close", () => this.closeInfo(), {class: "fb-button fb-info-close"});
            const text = el("pre", {class: "fb-info-text"}, "Computing info for " + entry.path + " ...");
            this.infoBox.append(close, text);
            try {
                const info = await this.call("/info", {}, {path: entry.path});
                const lines = [`path: ${info.path}`, `size: ${humanSize(info.size)} (${info.size} bytes)`,
                    `modified: ${info.modified}`, `created: ${info.created}`];
                if (info.sha256) lines.push(`sha256: ${info.sha256}`);
                if (info.image) {
                    lines.push(`image: ${info.image.width}x${info.image.height} ${info.image.format}`);
                    if (info.image.infotext) lines.push("", info.image.infotext);
                }
                text.textContent = lines.join("\n");
                if (info.sha256 && entry.path.startsWith("models/")) {
                    entry.sha256 = info.sha256;
                    this.render();
                }
            } catch (error) {
                text.textContent = error.message;
            }
        }

        async copyPath(entry) {
            const text = entry.path;
            try {
                if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
                else if (window.easelCopyText) window.easelCopyText(text);
                this.status("Copied " + text);
            } catch (_e) {
                if (window.easelCopyText) window.easelCopyText(text);
                this.status("Copied " + text);
            }
            this.root.dataset.copied = text;
        }

        warning(entries) {
            const used = entries.filter((e) => e.in_use);
            if (!used.length) return "";
            return "\n\nWarning: " + used.map((e) => e.path + " is " + e.in_use).join("; ") +
                ". The server will switch to another checkpoint (or VAE) and say so.";
        }

        async mkdir() {
            const name = window.prompt("New folder name (inside /" + this.cwd + ")");
            if (!name) return;
            await this.mutate(() => this.call("/mkdir", this.json("POST", {path: joinPath(this.cwd, name)})), "Created " + name);
        }

        async move(entry) {
            const dst = window.prompt("Move / rename to (path inside the data dir)" + this.warning([entry]), entry.path);
            if (!dst || dst === entry.path) return;
            const body = {src: entry.path, dst, overwrite: this.overwrite.checked};
            await this.mutate(() => this.call("/move", this.json("POST", body)), "Moved to " + dst);
        }

        async remove(entry) {
            const what = entry.is_dir ? "the folder " + entry.path + " and everything in it" : entry.path;
            if (!window.confirm("Delete " + what + "?" + this.warning([entry]))) return;
            await this.mutate(() => this.call("/delete", {method: "DELETE"}, {path: entry.path}), "Deleted " + entry.path);
        }

        selectedEntries() {
            return this.entries.filter((e) => this.selected.has(e.path));
        }

        zipSelected() {
            const entries = this.selectedEntries();
            if (!entries.length) return;
            const query = new URLSearchParams();
            for (const entry of entries) query.append("path", entry.path);
            const link = el("a", {href: this.api + "/download-zip?" + query.toString(), download: "selection.zip"});
            document.body.append(link);
            link.click();
            link.remove();
        }

        async removeSelected() {
            const entries = this.selectedEntries();
            if (!entries.length) return;
            if (!window.confirm("Delete " + entries.length + " item(s): " + entries.map((e) => e.name).join(", ") + "?" +
                this.warning(entries))) return;
            await this.mutate(async () => {
                for (const entry of entries) await this.call("/delete", {method: "DELETE"}, {path: entry.path});
                this.selected.clear();
            }, "Deleted " + entries.length + " item(s)");
        }

        async moveSelected() {
            const entries = this.selectedEntries();
            if (!entries.length) return;
            const folder = window.prompt("Move " + entries.length + " item(s) into the folder (inside the data dir)" +
                this.warning(entries), this.cwd);
            if (folder === null || folder === this.cwd) return;
            await this.mutate(async () => {
                for (const entry of entries) {
                    await this.call("/move", this.json("POST", {src: entry.path, dst: joinPath(folder, entry.name),
                        overwrite: this.overwrite.checked}));
                }
                this.selected.clear();
            }, "Moved " + entries.length + " item(s) to /" + folder);
        }

        async mutate(action, done) {
            try {
                await action();
                await this.load(this.cwd);
                this.status(done);
            } catch (error) {
                await this.load(this.cwd);
                this.status(error.message, true);
            }
        }

        async uploadFiles(files) {
            const folder = this.cwd;
            for (const file of files) {
                const bar = el("progress", {max: "100", value: "0"});
                const label = el("span", {}, file.name);
                const line = el("div", {class: "fb-upload"}, label, " ", bar);
                this.uploads.append(line);
                try {
                    const result = await this.tusUpload(file, folder, (done) => { bar.value = Math.floor(100 * done); });
                    label.textContent = `${file.name}: done, sha256 ${result.sha256.slice(0, 12)}...`;
                    setTimeout(() => line.remove(), 8000);
                } catch (error) {
                    label.textContent = `${file.name}: ${error.message}`;
                    line.classList.add("fb-error");
                }
            }
            this.fileInput.value = "";
            await this.load(this.cwd);
        }

        tusHeaders(extra) { return Object.assign({"Tus-Resumable": TUS}, extra || {}); }

        async tusOffset(url) {
            const response = await fetch(url, {method: "HEAD", headers: this.tusHeaders(), credentials: "same-origin"});
            if (!response.ok) return null;
            return parseInt(response.headers.get("Upload-Offset"), 10);
        }

        // Resumable upload: the upload URL is remembered in localStorage per (folder, name, size, mtime), so a
        // reload or a dropped connection continues from the server's offset instead of starting over.
        async tusUpload(file, folder, progress) {
            const key = `filebrowser-tus:${folder}/${file.name}:${file.size}:${file.lastModified}`;
            let url = window.localStorage.getItem(key);
            let offset = url ? await this.tusOffset(url) : null;
            if (offset === null) {
                const meta = {filename: file.name, path: folder, overwrite: this.overwrite.checked ? "true" : "false"};
                const encoded = Object.entries(meta).map(([k, v]) =>
                    k + " " + btoa(String.fromCharCode(...new TextEncoder().encode(v)))).join(",");
                const created = await fetch(this.api + "/tus/", {method: "POST", credentials: "same-origin",
                    headers: this.tusHeaders({"Upload-Length": String(file.size), "Upload-Metadata": encoded})});
                if (created.status !== 201) throw new Error(await errorText(created));
                url = new URL(created.headers.get("Location"), window.location.href).toString();
                window.localStorage.setItem(key, url);
                offset = 0;
            }
            let failures = 0;
            while (offset < file.size) {
                let response;
                try {
                    response = await fetch(url, {method: "PATCH", credentials: "same-origin", body: file.slice(offset, offset + this.chunk),
                        headers: this.tusHeaders({"Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream"})});
                } catch (error) {  // network error: wait, ask the server where we are, go on
                    if (++failures > 8) throw error;
                    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** failures));
                    offset = (await this.tusOffset(url)) ?? offset;
                    continue;
                }
                if (response.status === 413 && this.chunk > MIN_CHUNK) {  // a proxy's body limit: smaller chunks
                    this.chunk = Math.max(MIN_CHUNK, Math.floor(this.chunk / 2));
                    continue;
                }
                if (response.status === 409) {
                    const message = await errorText(response);
                    const current = await this.tusOffset(url);
                    if (current === null || current === offset) throw new Error(message);
                    offset = current;
                    continue;
                }
                if (!response.ok) throw new Error(await errorText(response));
                failures = 0;
                offset = parseInt(response.headers.get("Upload-Offset"), 10);
                progress(file.size ? offset / file.size : 1);
            }
            const result = await fetch(url + "/result", {credentials: "same-origin"});
            if (!result.ok) throw new Error(await errorText(result));
            window.localStorage.removeItem(key);
            progress(1);
            return result.json();
        }
    }

    // the data dir's browser, and (with --storage-url oss:// or s3://) a read-only one over the object store
    const HOST_IDS = ["filebrowser-root", "filebrowser-store-root"];

    function findHosts() {
        const app = document.querySelector("gradio-app");
        const scope = app && app.shadowRoot ? app.shadowRoot : document;
        return HOST_IDS.map((id) => scope.querySelector("#" + id)).filter(Boolean);
    }

    function mountWhenPresent() {
        for (const host of findHosts()) {
            if (!host.dataset.mounted) {
                host.dataset.mounted = "true";
                host.filebrowser = new Browser(host);
            }
        }
    }

    function start() {
        mountWhenPresent();
        new MutationObserver(mountWhenPresent).observe(document.documentElement, {childList: true, subtree: true});
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
