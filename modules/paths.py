"""Data-dir layout: where models, outputs and state live.

Every path Easel reads or writes is derived from one `DataPaths`, built once from the command line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DataPaths:
    data_dir: Path
    ckpt_dirs: tuple[Path, ...] = ()
    vae_dirs: tuple[Path, ...] = ()
    lora_dirs: tuple[Path, ...] = ()
    embeddings_dirs: tuple[Path, ...] = ()
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_data_dir(
        cls,
        data_dir: str | Path,
        ckpt_dir: str | Path | None = None,
        vae_dir: str | Path | None = None,
        lora_dir: str | Path | None = None,
        embeddings_dir: str | Path | None = None,
    ) -> DataPaths:
        root = Path(data_dir).expanduser().resolve()
        models = root / "models"

        def dirs(default: Path, flag: str | Path | None) -> tuple[Path, ...]:
            return (default,) if flag is None else (default, Path(flag).expanduser().resolve())

        return cls(
            data_dir=root,
            ckpt_dirs=dirs(models / "Stable-diffusion", ckpt_dir),
            vae_dirs=dirs(models / "VAE", vae_dir),
            lora_dirs=dirs(models / "Lora", lora_dir),
            embeddings_dirs=dirs(root / "embeddings", embeddings_dir),
        )

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

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
        return self.data_dir / "styles.csv"

    @property
    def tasks_db(self) -> Path:
        return self.data_dir / "tasks.sqlite3"

    @property
    def hash_cache_file(self) -> Path:
        return self.cache_dir / "hashes.json"

    def ensure(self) -> None:
        """Create the folders of the layout (idempotent)."""
        for d in (
            *self.ckpt_dirs[:1], *self.vae_dirs[:1], *self.lora_dirs[:1], *self.embeddings_dirs[:1],
            self.controlnet_dir, self.esrgan_dir, self.beautifulprompt_dir, self.outputs_dir, self.cache_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
