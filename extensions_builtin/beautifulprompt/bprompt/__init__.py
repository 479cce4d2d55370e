"""BeautifulPrompt: expand a short prompt into detailed ones (built-in vocabularies or a local causal LM).

Modules: `expander_common` (params, limits, result), `expander_base` (the `PromptExpander` interface),
`expander_builtin` / `expander_transformers` (the two implementations), `registry` (which exist),
`routes` (REST), `ui` (Gradio tab). Importing this package imports neither torch nor gradio.
"""
