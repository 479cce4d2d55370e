"""Model registry: checkpoint/VAE discovery and naming (checkpoints.py, vae.py, hashes.py), safe file reading
(safe_load.py), architecture detection (family.py, arch.py), offline loading (loader.py, components.py,
configs.py, clip_vocab.py) and tiny random-weight checkpoints for tests (tiny.py, ldm_convert.py).
Import the submodules directly; this package imports nothing heavy."""
