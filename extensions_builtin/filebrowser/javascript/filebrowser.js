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

        build() {
            this.root.textContent = "";
            this.crumbs = el("div", {class: "fb-crumbs"});
            this.fileInput = el("input", {type: "file", multiple: "", class: "fb-hidden",
                onchange: () => this.uploadFiles(Array.from(this.fileInput.files))});
            const buttons = [
                el("button", {type: "button", onclick: () => this.load(this.parent())}, "Up"),
                el("button", {type: "button", onclick: () => this.load(this.cwd)}, "Refresh"),
            ];
            if (!this.readonly) {
                buttons.push(el("button", {type: "button", onclick: () => this.mkdir()}, "New folder"));
                buttons.push(el("button", {type: "button", onclick: () => this.fileInput.click()}, "Upload"));
            }
            this.overwrite = el("input", {type: "checkbox"});
            if (!this.readonly) buttons.push(el("label", {class: "fb-check"}, this.overwrite, " overwrite"));
            this.statusLine = el("div", {class: "fb-status"});
            this.uploads = el("div", {class: "fb-uploads"});
            this.tbody = el("tbody");
            this.more = el("button", {type: "button", class: "fb-hidden", onclick: () => this.loadMore()}, "Load more");
            this.infoBox = el("pre", {class: "fb-info fb-hidden"});
            const head = el("tr", {}, el("th", {}, ""), el("th", {}, "Name"), el("th", {}, "Size"),
                el("th", {}, "Modified"), el("th", {}, ""));
            this.root.append(
                el("div", {class: "fb-toolbar"}, ...buttons, this.fileInput),
                this.crumbs, this.statusLine, this.uploads,
                el("table", {class: "fb-table"}, el("thead", {}, head), this.tbody),
                this.more, this.infoBox,
            );
            if (this.readonly) this.status("Read-only mode: browsing and downloads only.");
            this.root.addEventListener("dragover", (event) => { event.preventDefault(); });
            this.root.addEventListener("drop", (event) => {
                event.preventDefault();
                if (!this.readonly) this.uploadFiles(Array.from(event.dataTransfer.files));
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
            try {
                const listing = await this.call("/list", {}, {path, offset: 0, limit: PAGE});
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
            for (const entry of this.entries) this.tbody.append(this.row(entry));
            this.more.classList.toggle("fb-hidden", this.entries.length >= this.total);
        }

        row(entry) {
            const icon = entry.is_image
                ? el("img", {class: "fb-thumb", loading: "lazy", alt: "", src: this.url("/thumbnail", {path: entry.path, size: 64})})
                : el("span", {class: "fb-icon"}, entry.is_dir ? "\u{1F4C1}" : (entry.outside ? "\u26D4" : "\u{1F4C4}"));
            const name = entry.is_dir
                ? el("a", {href: "#", onclick: (e) => { e.preventDefault(); this.load(entry.path); }}, entry.name)
                : (entry.outside ? el("span", {title: "symlink out of the data dir"}, entry.name)
                    : el("a", {href: this.url("/download", {path: entry.path})}, entry.name));
            const actions = el("td", {class: "fb-actions"});
            if (!entry.outside) {
                actions.append(el("a", {href: this.url("/download", {path: entry.path}), title: "Download"}, entry.is_dir ? "zip" : "get"));
                actions.append(el("button", {type: "button", onclick: () => this.info(entry)}, "Info"));
            }
            if (!this.readonly) {
                if (!entry.outside) actions.append(el("button", {type: "button", onclick: () => this.move(entry)}, "Move"));
                actions.append(el("button", {type: "button", onclick: () => this.remove(entry)}, "Delete"));
            }
            return el("tr", {}, el("td", {}, icon), el("td", {class: "fb-name"}, name),
                el("td", {}, entry.is_dir ? "" : humanSize(entry.size)),
                el("td", {}, new Date(entry.modified).toLocaleString()), actions);
        }

        async info(entry) {
            this.infoBox.classList.remove("fb-hidden");
            this.infoBox.textContent = "Computing info for " + entry.path + " ...";
            try {
                const info = await this.call("/info", {}, {path: entry.path});
                const lines = [`path: ${info.path}`, `size: ${humanSize(info.size)} (${info.size} bytes)`,
                    `modified: ${info.modified}`, `created: ${info.created}`];
                if (info.sha256) lines.push(`sha256: ${info.sha256}`);
                if (info.image) {
                    lines.push(`image: ${info.image.width}x${info.image.height} ${info.image.format}`);
                    if (info.image.infotext) lines.push("", info.image.infotext);
                }
                this.infoBox.textContent = lines.join("\n");
            } catch (error) {
                this.infoBox.textContent = error.message;
            }
        }

        async mkdir() {
            const name = window.prompt("New folder name (inside /" + this.cwd + ")");
            if (!name) return;
            await this.mutate(() => this.call("/mkdir", this.json("POST", {path: joinPath(this.cwd, name)})), "Created " + name);
        }

        async move(entry) {
            const dst = window.prompt("Move / rename to (path inside the data dir)", entry.path);
            if (!dst || dst === entry.path) return;
            const body = {src: entry.path, dst, overwrite: this.overwrite.checked};
            await this.mutate(() => this.call("/move", this.json("POST", body)), "Moved to " + dst);
        }

        async remove(entry) {
            const what = entry.is_dir ? "the folder " + entry.path + " and everything in it" : entry.path;
            if (!window.confirm("Delete " + what + "?")) return;
            await this.mutate(() => this.call("/delete", {method: "DELETE"}, {path: entry.path}), "Deleted " + entry.path);
        }

        async mutate(action, done) {
            try {
                await action();
                await this.load(this.cwd);
                this.status(done);
            } catch (error) {
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

    function findHost() {
        const app = document.querySelector("gradio-app");
        const scope = app && app.shadowRoot ? app.shadowRoot : document;
        return scope.querySelector("#filebrowser-root");
    }

    function mountWhenPresent() {
        const host = findHost();
        if (host && !host.dataset.mounted) {
            host.dataset.mounted = "true";
            host.filebrowser = new Browser(host);
        }
    }

    function start() {
        mountWhenPresent();
        new MutationObserver(mountWhenPresent).observe(document.documentElement, {childList: true, subtree: true});
    }

    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
