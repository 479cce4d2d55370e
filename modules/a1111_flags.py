"""A1111 1.10's launch flags (and the managed-service ones of the source documents) that real launch scripts pass,
declared once: what Easel does with each.

Flags Easel implements natively live in modules/cmd_args.py (and extensions' preload.py); this table adds the rest,
so every A1111 start command is accepted. Status:
- "honoured": Easel does what the flag asks (the note says where);
- "already": Easel already behaves so (never checks versions, never downloads, ...): accepted silently;
- "no effect": accepted, and one warning line at start says why it changes nothing.
A flag A1111 does not know is still an error (argparse exits with status 2 naming it). `flags_table()` renders the
table of docs/compatibility.md (tests/test_launch_flags.py keeps the two equal).
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("easel.flags")

HONOURED, ALREADY, NO_EFFECT = "honoured", "already", "no effect"
SWITCH, VALUE, INT, APPEND, LIST = "switch", "value", "int", "append", "list"


@dataclass(frozen=True)
class CompatFlag:
    name: str  # "--medvram"
    status: str  # HONOURED | ALREADY | NO_EFFECT
    note: str  # how it is honoured, or why it has no effect
    kind: str = SWITCH  # SWITCH (store_true) | VALUE (str) | INT | APPEND (repeatable str) | LIST (nargs="+")
    source: str = "A1111"  # "A1111" or "EAS" (the managed-service documents)

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


def _f(name: str, status: str, note: str, kind: str = SWITCH, source: str = "A1111") -> CompatFlag:
    return CompatFlag(name, status, note, kind, source)


_ATTENTION = ("Easel's UNet uses PyTorch's scaled-dot-product attention (diffusers' default); the other A1111 "
              "attention optimisations do not exist here")
_A1111_NOOP = "A1111 1.10 ignores it too (\"does not do anything\")"
_VRAM = "Easel keeps the whole model on one device; A1111's VRAM-saving model splitting is not implemented"

FLAGS: tuple[CompatFlag, ...] = (
    # launch.py / installation
    _f("-f", ALREADY, "A1111's webui.sh uses it to allow running as root; Easel has no such check"),
    _f("--update-all-extensions", NO_EFFECT, "Easel never updates extensions from the network (offline)"),
    _f("--skip-python-version-check", ALREADY, "Easel never checks the Python version at start"),
    _f("--skip-torch-cuda-test", ALREADY, "Easel never runs a CUDA test at start (CPU works)"),
    _f("--reinstall-xformers", NO_EFFECT, "install.py installs exactly requirements.txt; reinstall xformers with pip"),
    _f("--reinstall-torch", NO_EFFECT, "install.py never changes the pinned torch; reinstall it with pip"),
    _f("--update-check", NO_EFFECT, "Easel never contacts GitHub for updates (offline)"),
    _f("--test-server", NO_EFFECT, "Easel's tests start their own servers (tests/support.py)"),
    _f("--log-startup", NO_EFFECT, "start-up steps are always logged at INFO level"),
    _f("--skip-prepare-environment", HONOURED, "skips install.py, like --skip-install (launch.py and webui.sh)"),
    _f("--dump-sysinfo", NO_EFFECT, "not implemented; /internal/sysinfo is not served either"),
    _f("--loglevel", HONOURED, "sets the root log level (CRITICAL, ERROR, WARNING, INFO, DEBUG)", VALUE),
    _f("--do-not-download-clip", ALREADY, "Easel never downloads CLIP: the tokenizer ships with the project"),
    _f("--models-dir", HONOURED, "the models folder (default <data-dir>/models)", VALUE),
    _f("--config", NO_EFFECT, "Easel derives each checkpoint's architecture from its weights (a .yaml beside a "
                              "checkpoint is still read)", VALUE),
    _f("--no-progressbar-hiding", NO_EFFECT, "the WebUI never hides its progress bar"),
    _f("--max-batch-count", NO_EFFECT, "use --max-batch-size (batch_size, and batch_size x n_iter / 4)", INT),
    _f("--textual-inversion-templates-dir", NO_EFFECT, "Easel does not train embeddings", VALUE),
    _f("--localizations-dir", NO_EFFECT, "the WebUI reads localizations/ beside launch.py", VALUE),
    _f("--allow-code", NO_EFFECT, "the \"Custom code\" script is not shipped (running posted code is unsafe)"),
    _f("--medvram", NO_EFFECT, _VRAM),
    _f("--medvram-sdxl", NO_EFFECT, _VRAM),
    _f("--lowvram", NO_EFFECT, _VRAM),
    _f("--lowram", NO_EFFECT, "checkpoints are read straight into the device's dtype already"),
    _f("--always-batch-cond-uncond", NO_EFFECT, _A1111_NOOP),
    _f("--unload-gfpgan", NO_EFFECT, _A1111_NOOP),
    _f("--upcast-sampling", ALREADY, "the sampler's math is always float32; only the UNet runs in the model dtype"),
    _f("--share", NO_EFFECT, "no Gradio share tunnel (offline); publish the port yourself"),
    _f("--ngrok", NO_EFFECT, "no ngrok tunnel (offline)", VALUE),
    _f("--ngrok-region", NO_EFFECT, _A1111_NOOP, VALUE),
    _f("--ngrok-options", NO_EFFECT, "no ngrok tunnel (offline)", VALUE),
    _f("--enable-insecure-extension-access", NO_EFFECT, "Easel has no Extensions tab that installs from URLs"),
    _f("--clip-models-path", NO_EFFECT, "no CLIP interrogator is shipped (/sdapi/v1/interrogate answers 404)", VALUE),
    _f("--ldsr-models-path", NO_EFFECT, "LDSR upscaling is not implemented", VALUE),
    _f("--lyco-dir-backcompat", HONOURED, "an extra LoRA folder (LyCORIS files are LoRAs here)", VALUE),
    _f("--force-enable-xformers", HONOURED, "same as --xformers"),
    _f("--xformers-flash-attention", NO_EFFECT, "use --xformers; Easel does not pick xformers' flash kernel"),
    _f("--deepdanbooru", NO_EFFECT, _A1111_NOOP),
    _f("--opt-split-attention", NO_EFFECT, _ATTENTION),
    _f("--opt-sub-quad-attention", NO_EFFECT, _ATTENTION),
    _f("--sub-quad-q-chunk-size", NO_EFFECT, _ATTENTION, INT),
    _f("--sub-quad-kv-chunk-size", NO_EFFECT, _ATTENTION, INT),
    _f("--sub-quad-chunk-threshold", NO_EFFECT, _ATTENTION, INT),
    _f("--opt-split-attention-invokeai", NO_EFFECT, _ATTENTION),
    _f("--opt-split-attention-v1", NO_EFFECT, _ATTENTION),
    _f("--opt-sdp-attention", ALREADY, "scaled-dot-product attention is what Easel's UNet uses"),
    _f("--opt-sdp-no-mem-attention", ALREADY, "scaled-dot-product attention is what Easel's UNet uses; on CPU it "
                                              "is deterministic"),
    _f("--disable-opt-split-attention", NO_EFFECT, _ATTENTION),
    _f("--use-ipex", NO_EFFECT, "Intel XPU is not supported; Easel runs on CUDA, MPS or the CPU"),
    _f("--disable-model-loading-ram-optimization", NO_EFFECT, "Easel has one way to load checkpoints"),
    _f("--show-negative-prompt", NO_EFFECT, _A1111_NOOP),
    _f("--ui-config-file", NO_EFFECT, "the WebUI keeps no ui-config.json", VALUE),
    _f("--hide-ui-dir-config", NO_EFFECT, "the WebUI shows no folder settings"),
    _f("--freeze-settings", NO_EFFECT, "not implemented: settings stay editable (see docs/security.md for the "
                                       "flag-only security settings)"),
    _f("--freeze-settings-in-sections", NO_EFFECT, "not implemented", VALUE),
    _f("--freeze-specific-settings", NO_EFFECT, "not implemented", VALUE),
    _f("--ui-settings-file", NO_EFFECT, "settings are always <data-dir>/config.json", VALUE),
    _f("--gradio-debug", NO_EFFECT, "Gradio runs mounted in Easel's server, not in its own debug mode"),
    _f("--gradio-auth-path", HONOURED, "file of user:password entries (comma- or line-separated), added to "
                                       "--gradio-auth", VALUE),
    _f("--gradio-img2img-tool", NO_EFFECT, _A1111_NOOP, VALUE),
    _f("--gradio-inpaint-tool", NO_EFFECT, _A1111_NOOP, VALUE),
    _f("--gradio-allowed-path", NO_EFFECT, "the WebUI serves files only through Easel's own routes", APPEND),
    _f("--opt-channelslast", NO_EFFECT, "the UNet keeps PyTorch's default memory format"),
    _f("--styles-file", HONOURED, "the styles CSV (default <data-dir>/styles.csv); given more than once, the first "
                                  "is used", APPEND),
    _f("--autolaunch", NO_EFFECT, "Easel is a server; it opens no browser"),
    _f("--theme", NO_EFFECT, "the WebUI follows the browser's light/dark preference (?__theme=dark works)", VALUE),
    _f("--use-textbox-seed", NO_EFFECT, "the WebUI's seed fields already take any 64-bit seed"),
    _f("--disable-console-progressbars", ALREADY, "Easel prints no per-step console progress bars"),
    _f("--enable-console-prompts", NO_EFFECT, _A1111_NOOP),
    _f("--vae-path", NO_EFFECT, "choose the VAE with the sd_vae option (files in models/VAE or --vae-dir)", VALUE),
    _f("--disable-safe-unpickle", NO_EFFECT, "refused for safety: .ckpt/.pt files are always read weights-only"),
    _f("--ui-debug-mode", NO_EFFECT, "the model always loads in the background, so the UI starts at once anyway"),
    _f("--administrator", NO_EFFECT, "Easel has no administrator mode (the FileBrowser has its own flags)"),
    _f("--tls-keyfile", HONOURED, "with --tls-certfile: HTTPS (uvicorn ssl_keyfile)", VALUE),
    _f("--tls-certfile", HONOURED, "with --tls-keyfile: HTTPS (uvicorn ssl_certfile)", VALUE),
    _f("--disable-tls-verify", NO_EFFECT, "Easel makes no TLS client connections that this would relax"),
    _f("--gradio-queue", ALREADY, "the WebUI always uses Gradio's queue"),
    _f("--no-gradio-queue", NO_EFFECT, "Gradio 6 always queues; the WebUI cannot run without it"),
    _f("--skip-version-check", ALREADY, "Easel never checks torch/xformers versions at start"),
    _f("--no-hashing", HONOURED, "no sha256 of checkpoints, VAEs, LoRAs or embeddings: no hashes in titles, "
                                 "listings or infotexts"),
    _f("--no-download-sd-model", ALREADY, "Easel never downloads a model (without one it writes a tiny random "
                                          "test checkpoint and says so)"),
    _f("--subpath", NO_EFFECT, "serve Easel under a path with your reverse proxy's prefix stripping", VALUE),
    _f("--add-stop-route", NO_EFFECT, _A1111_NOOP + "; see --api-server-stop"),
    _f("--disable-all-extensions", HONOURED, "no extension runs, built-in ones included"),
    _f("--disable-extra-extensions", HONOURED, "only the built-in extensions run"),
    _f("--skip-load-model-at-start", HONOURED, "the checkpoint loads with the first generation instead of at start"),
    _f("--unix-filenames-sanitization", NO_EFFECT, "Easel names saved files NNNNN-seed.ext, never from prompts"),
    _f("--filenames-max-length", NO_EFFECT, "Easel names saved files NNNNN-seed.ext, never from prompts", INT),
    _f("--no-prompt-history", ALREADY, "Easel writes no params.txt"),
    # The managed-service (EAS) documents' start commands
    _f("--blade", NO_EFFECT, "PAI-Blade is Alibaba's proprietary accelerator, not available here", source="EAS"),
    _f("--root-extensions", ALREADY, "every user already sees the same extensions/ folder", source="EAS"),
    _f("--time-log", HONOURED, "one log line per HTTP request with its status and time", source="EAS"),
)
BY_NAME = {flag.name: flag for flag in FLAGS}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add every table flag the parser does not define yet (Easel's own definition wins)."""
    known = set(parser._option_string_actions)  # noqa: SLF001 - argparse has no public lookup
    for flag in FLAGS:
        if flag.name in known:
            continue
        help_text = f"{flag.source} flag, {flag.status}: {flag.note}".replace("%", "%%")
        if flag.kind == SWITCH:
            parser.add_argument(flag.name, action="store_true", help=help_text)
        elif flag.kind == INT:
            parser.add_argument(flag.name, type=int, default=None, help=help_text)
        elif flag.kind == APPEND:
            parser.add_argument(flag.name, action="append", default=None, help=help_text)
        elif flag.kind == LIST:
            parser.add_argument(flag.name, nargs="+", default=None, help=help_text)
        else:
            parser.add_argument(flag.name, type=str, default=None, help=help_text)


def given(cmd_opts: argparse.Namespace, flag: CompatFlag) -> bool:
    value: Any = getattr(cmd_opts, flag.dest, None)
    return value not in (None, False, [], "")


def report(cmd_opts: argparse.Namespace, log: logging.Logger = logger) -> list[str]:
    """One warning line per given flag that has no effect; returns those lines."""
    lines = []
    for flag in FLAGS:
        if flag.status == NO_EFFECT and given(cmd_opts, flag):
            line = f"{flag.name} has no effect in Easel: {flag.note}"
            log.warning(line)
            lines.append(line)
    return lines


def flags_table(parser: argparse.ArgumentParser, a1111_native: Iterable[str], eas_native: Iterable[str] = ()) -> str:
    """The Markdown table of docs/compatibility.md: every flag of `parser`, A1111's and Easel's own."""
    native, eas = set(a1111_native), set(eas_native)
    rows = []
    for action in parser._actions:  # noqa: SLF001
        names = [s for s in action.option_strings if s.startswith("-") and s not in ("-h", "--help")]
        if not names:
            continue
        name = max(names, key=len)
        flag = BY_NAME.get(name)
        if flag is not None:
            status, note, source = flag.status, flag.note, flag.source
        else:
            note = (action.help or "").replace("%%", "%")
            source = "A1111" if name in native else "EAS" if name in eas else "Easel"
            status = HONOURED if source != "Easel" else "Easel's own"
        rows.append((name.lstrip("-").lower(), f"| `{name}` | {source} | {status} | {note.replace('|', '/')} |"))
    header = "| Flag | From | Status | What Easel does |\n|---|---|---|---|"
    return "\n".join([header, *(row for _key, row in sorted(rows))])


LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def finish(cmd_opts: argparse.Namespace) -> argparse.Namespace:
    """Fold the honoured aliases into Easel's own flags once they are parsed (exits with status 2 on a bad value,
    as argparse does)."""
    if getattr(cmd_opts, "force_enable_xformers", False):
        cmd_opts.xformers = True
    if getattr(cmd_opts, "skip_prepare_environment", False):
        cmd_opts.skip_install = True
    level = getattr(cmd_opts, "loglevel", None)
    if level is not None and level.upper() not in LOG_LEVELS:
        raise SystemExit(f"launch.py: error: --loglevel must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    path = getattr(cmd_opts, "gradio_auth_path", None)
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                entries = [e.strip() for line in handle for e in line.split(",") if e.strip()]
        except OSError as exc:
            raise SystemExit(f"launch.py: error: --gradio-auth-path: cannot read {path}: {exc.strerror}") from exc
        cmd_opts.gradio_auth = ",".join([*([cmd_opts.gradio_auth] if getattr(cmd_opts, "gradio_auth", None)
                                           else []), *entries])
    if getattr(cmd_opts, "tls_keyfile", None) and not getattr(cmd_opts, "tls_certfile", None) or \
            getattr(cmd_opts, "tls_certfile", None) and not getattr(cmd_opts, "tls_keyfile", None):
        raise SystemExit("launch.py: error: --tls-keyfile and --tls-certfile go together")
    return cmd_opts


# A1111 1.10 flags Easel defines itself (modules/cmd_args.py, extensions' preload.py): "A1111" in the docs table.
A1111_NATIVE = (
    "--data-dir", "--ckpt", "--ckpt-dir", "--vae-dir", "--lora-dir", "--embeddings-dir", "--hypernetwork-dir",
    "--gfpgan-dir", "--gfpgan-model", "--no-half", "--no-half-vae", "--precision", "--xformers", "--use-cpu",
    "--device-id", "--disable-nan-check", "--codeformer-models-path", "--gfpgan-models-path", "--esrgan-models-path",
    "--bsrgan-models-path", "--realesrgan-models-path", "--dat-models-path", "--swinir-models-path",
    "--scunet-models-path", "--listen", "--port", "--server-name", "--gradio-auth", "--api", "--api-auth",
    "--api-log", "--nowebui", "--cors-allow-origins", "--cors-allow-origins-regex", "--api-server-stop",
    "--timeout-keep-alive", "--skip-install",
)
# The managed-service documents' flags Easel defines itself (built-in extensions included).
EAS_NATIVE = ("--enable-nsfw-censor", "--filebrowser", "--sd-dynamic-cache", "--min-ram-reserved", "--always-hide-tabs")
DOCS_START, DOCS_END = "<!-- launch-flags:start -->", "<!-- launch-flags:end -->"


def docs_table(root) -> str:
    """The flags table exactly as docs/compatibility.md holds it (between DOCS_START and DOCS_END)."""
    from modules.cmd_args import full_parser

    parser, _extensions = full_parser([], root)
    return flags_table(parser, A1111_NATIVE, EAS_NATIVE)


if __name__ == "__main__":  # python -m modules.a1111_flags: rewrite the table in docs/compatibility.md
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    docs = repo / "docs" / "compatibility.md"
    text = docs.read_text(encoding="utf-8")
    head, rest = text.split(DOCS_START, 1)
    _old, tail = rest.split(DOCS_END, 1)
    docs.write_text(f"{head}{DOCS_START}\n{docs_table(repo)}\n{DOCS_END}{tail}", encoding="utf-8")
