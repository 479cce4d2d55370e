"""Data-dir layout: where models, outputs and state live.

Every path Easel reads or writes is derived from one `DataPaths`, built once from the command line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PRIVATE_DIR = "private"
LEGACY_SECRETS_FILE = "secrets.json"  # where secrets lived before the private folder (migrated on start)
TASKS_DB = "tasks.sqlite3"
SERVER_FILES = ("config.json", "config.json.tmp", "config.json.bad", "styles.csv", "styles.csv.tmp", "cache")


def private_paths(data_dir: str | Path) -> tuple[Path, ...]:
    """The data dir's paths no API may reach: the private folder, the live task database (and its SQLite
    side files) and the pre-migration secrets file."""
    root = Path(data_dir)
    db = root / TASKS_DB
    return (root / PRIVATE_DIR, root / LEGACY_SECRETS_FILE, db,
            *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")))


@dataclass(frozen=True)
class DataPaths:
    data_dir: Path
    ckpt_dirs: tuple[Path, ...] = ()
    vae_dirs: tuple[Path, ...] = ()
    lora_dirs: tuple[Path, ...] = ()
    embeddings_dirs: tuple[Path, ...] = ()
    extra: dict = field(default_factory=dict)
    models_root: Path | None = None  # --models-dir (A1111); default <data dir>/models
    styles_path: Path | None = None  # --styles-file (A1111); default <data dir>/styles.csv

    @classmethod
    def from_data_dir(
        cls,
        data_dir: str | Path,
        ckpt_dir: str | Path | None = None,
        vae_dir: str | Path | None = None,
        lora_dir: str | Path | None = None,
        embeddings_dir: str | Path | None = None,
        *,
        models_dir: str | Path | None = None,
        styles_file: str | Path | None = None,
    ) -> DataPaths:
        root = Path(data_dir).expanduser().resolve()
        models = Path(models_dir).expanduser().resolve() if models_dir else root / "models"

        def dirs(default: Path, flag: str | Path | None) -> tuple[Path, ...]:
            return (default,) if flag is None else (default, Path(flag).expanduser().resolve())

        return cls(
            data_dir=root,
            ckpt_dirs=dirs(models / "Stable-diffusion", ckpt_dir),
            vae_dirs=dirs(models / "VAE", vae_dir),
            lora_dirs=dirs(models / "Lora", lora_dir),
            embeddings_dirs=dirs(root / "embeddings", embeddings_dir),
            models_root=models if models_dir else None,
            styles_path=Path(styles_file).expanduser().resolve() if styles_file else None,
        )

    @property
    def models_dir(self) -> Path:
        return self.models_root or self.data_dir / "models"

    @property
    def ckpt_dir(self) -> Path:
        """The primary checkpoint folder (the first of `ckpt_dirs`)."""
        return self.ckpt_dirs[0]

    @property
    def vae_dir(self) -> Path:
        return self.vae_dirs[0]

    @property
    def lora_dir(self) -> Path:
        return self.lora_dirs[0]

    @property
    def embeddings_dir(self) -> Path:
        return self.embeddings_dirs[0]

    @property
    def controlnet_dir(self) -> Path:
        return self.models_dir / "ControlNet"

    @property
    def hypernetwork_dir(self) -> Path:
        return self.models_dir / "hypernetworks"

    def hypernetwork_dirs(self, flag: str | Path | None = None) -> tuple[Path, ...]:
        """models/hypernetworks, then --hypernetwork-dir when given."""
        extra = () if flag is None else (Path(flag).expanduser().resolve(),)
        return (self.hypernetwork_dir, *extra)

    @property
    def esrgan_dir(self) -> Path:
        return self.models_dir / "ESRGAN"

    @property
    def beautifulprompt_dir(self) -> Path:
        return self.models_dir / "BeautifulPrompt"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config.json"

    @property
    def styles_file(self) -> Path:
        return self.styles_path or self.data_dir / "styles.csv"

    @property
    def tasks_db(self) -> Path:
        return self.data_dir / TASKS_DB

    @property
    def hash_cache_file(self) -> Path:
        return self.cache_dir / "hashes.json"

    @property
    def private_dir(self) -> Path:
        """Server-only state (secrets): never listed, read or written through the FileBrowser or any option."""
        return self.data_dir / PRIVATE_DIR

    @property
    def secrets_file(self) -> Path:
        return self.private_dir / "secrets.json"

    @property
    def private_paths(self) -> tuple[Path, ...]:
        return private_paths(self.data_dir)

    @property
    def server_files(self) -> tuple[Path, ...]:
        """Files the server reads its settings from: writable through the FileBrowser only with
        --filebrowser-allow-config."""
        return tuple(self.data_dir / name for name in SERVER_FILES)

    def ensure(self) -> None:
        """Create the folders of the layout (idempotent)."""
        for d in (
            *self.ckpt_dirs[:1], *self.vae_dirs[:1], *self.lora_dirs[:1], *self.embeddings_dirs[:1],
            self.controlnet_dir, self.esrgan_dir, self.beautifulprompt_dir, self.outputs_dir, self.cache_dir,
            self.hypernetwork_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        self.private_dir.mkdir(mode=0o700, exist_ok=True)
