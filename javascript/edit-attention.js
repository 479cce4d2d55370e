// Ctrl+Up / Ctrl+Down in a prompt box changes the weight of the selection: "word" -> "(word:1.1)" -> ... and
// back to "word" at 1.0 (A1111's edit-attention semantics). With nothing selected it acts on the enclosing
// (...), <...> or [...] block, else on the word under the cursor. <lora:name:0.8> steps by 0.05.
/* global updateInput */

(function () {
    "use strict";

    const STEP_ATTENTION = 0.1;
    const STEP_EXTRA = 0.05;
    const DELIMITERS = ".,\\/!?%^*;:{}=`~() \t\r\n";

    function isPromptArea(target) {
        return target && target.tagName === "TEXTAREA" &&
            Boolean(target.closest("[id$='_prompt'], [id$='_neg_prompt'], .prompt"));
    }

    // The range inside an enclosing OPEN...CLOSE around a collapsed cursor, without a ":weight" tail.
    function enclosingBlock(text, pos, open, close) {
        const before = text.slice(0, pos);
        const openAt = before.lastIndexOf(open);
        if (openAt === -1 || before.lastIndexOf(close) > openAt) return null;
        const after = text.slice(pos);
        const closeRel = after.indexOf(close);
        if (closeRel === -1) return null;
        const nextOpen = after.indexOf(open);
        if (nextOpen !== -1 && nextOpen < closeRel) return null;
        const inner = text.slice(openAt + 1, pos + closeRel);
        const colon = /:-?[\d.]+$/.test(inner) ? inner.lastIndexOf(":") : inner.length;
        return [openAt + 1, openAt + 1 + colon];
    }

    function wordAt(text, pos) {
        let start = pos, end = pos;
        while (start > 0 && !DELIMITERS.includes(text[start - 1])) start--;
        while (end < text.length && !DELIMITERS.includes(text[end])) end++;
        return start === end ? null : [start, end];
    }

    function formatWeight(weight) {
        const rounded = parseFloat(weight.toPrecision(12));
        return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
    }

    // Returns {text, start, end} after the change, or null when there is nothing to change.
    function editAttention(text, start, end, up) {
        if (start === end) {
            const range = enclosingBlock(text, start, "<", ">") || enclosingBlock(text, start, "(", ")") ||
                enclosingBlock(text, start, "[", "]") || wordAt(text, start);
            if (!range) return null;
            [start, end] = range;
        }
        while (end > start && text[end - 1] === " ") end--;
        while (start < end && text[start] === " ") start++;
        if (start === end) return null;
        const opener = text[start - 1] || "";
        const closer = text[end] || "";
        let close = ")";
        let step = STEP_ATTENTION;
        if (opener === "<") {
            close = ">";
            step = STEP_EXTRA;
        } else if ((opener === "(" && closer === ")") || (opener === "[" && closer === "]")) {
            // old-style ((emphasis)) / [de-emphasis]: turn into an explicit weight first
            let depth = 0;
            while (text[start - depth - 1] === opener && text[end + depth] === closer) depth++;
            let weight = opener === "[" ? Math.pow(1 / 1.1, depth) : Math.pow(1.1, depth);
            weight = Math.round(weight / STEP_ATTENTION) * STEP_ATTENTION;
            text = text.slice(0, start - depth) + "(" + text.slice(start, end) + ":" + formatWeight(weight) + ")" +
                text.slice(end + depth);
            start -= depth - 1;
            end -= depth - 1;
        } else if (opener !== "(") {
            text = text.slice(0, start) + "(" + text.slice(start, end) + ":1.0)" + text.slice(end);
            start += 1;
            end += 1;
        }
        if (text[end] !== ":") return null;
        const weightLength = text.slice(end + 1).indexOf(close);
        if (weightLength < 0) return null;
        let weight = parseFloat(text.slice(end + 1, end + 1 + weightLength));
        if (isNaN(weight)) return null;
        weight += up ? step : -step;
        const shown = formatWeight(weight);
        if (close === ")" && parseFloat(shown) === 1) {
            text = text.slice(0, start - 1) + text.slice(start, end) + text.slice(end + 1 + weightLength + 1);
            return {text, start: start - 1, end: end - 1};
        }
        text = text.slice(0, end + 1) + shown + text.slice(end + 1 + weightLength);
        return {text, start, end};
    }

    window.easelEditAttention = editAttention;

    document.addEventListener("keydown", (event) => {
        if (!(event.ctrlKey || event.metaKey) || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        if (!isPromptArea(target)) return;
        const result = editAttention(target.value, target.selectionStart, target.selectionEnd, event.key === "ArrowUp");
        event.preventDefault();
        if (!result) return;
        target.value = result.text;
        target.setSelectionRange(result.start, result.end);
        updateInput(target);
    });
})();
