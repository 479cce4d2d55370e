"""Users and roles (issue 16.1): the users file, password and token checks, login throttling, per-user quotas.

Torch-free and FastAPI-free; modules/api/auth.py puts it at the HTTP edge (docs/users.md)."""
