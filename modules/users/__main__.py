"""`python -m modules.users hash-password`: print an argon2id hash (or `--bcrypt`) for a users file entry. The
password is read from the terminal without echo, or from stdin when it is not a terminal."""
from __future__ import annotations

import argparse
import getpass
import sys

import bcrypt

from modules.users.passwords import hash_password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.users")
    sub = parser.add_subparsers(dest="command", required=True)
    hashing = sub.add_parser("hash-password", help="print a password hash for the users file")
    hashing.add_argument("--bcrypt", action="store_true", help="bcrypt instead of argon2id")
    args = parser.parse_args(argv)
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        parser.error("empty password")
    print(bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii") if args.bcrypt
          else hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
