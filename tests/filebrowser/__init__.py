"""Tests of the built-in FileBrowser extension (extensions_builtin/filebrowser)."""
