from __future__ import annotations

import json

from modules.model_registry.clip_vocab import ensure_tokenizer_dir, load_clip_tokenizer
from modules.model_registry.family import detect_family, detect_prediction_type
from modules.model_registry.safe_load import load_state_dict

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def test_family_detection(tiny_files):
    assert detect_family(load_state_dict(tiny_files["sd1"])) == "sd1"
    assert detect_family(load_state_dict(tiny_files["sd1_ckpt"])) == "sd1"
    assert detect_family(load_state_dict(tiny_files["sd2"])) == "sd2"
    assert detect_family(load_state_dict(tiny_files["sdxl"])) == "sdxl"
    assert detect_family({"something.else": None}) is None


def test_prediction_type_evidence():
    yaml_v = 'model:\n  params:\n    parameterization: "v"\n'
    assert detect_prediction_type("sd2", {}, yaml_text=yaml_v) == "v_prediction"
    assert detect_prediction_type("sd2", {}, yaml_text="model:\n  params: {}\n") == "epsilon"
    assert detect_prediction_type("sd2", {}, global_step=875000) == "epsilon"
    assert detect_prediction_type("sd2", {}) == "v_prediction"
    assert detect_prediction_type("sd1", {}) == "epsilon"
    assert detect_prediction_type("sdxl", {"v_pred": None}) == "v_prediction"
    assert detect_prediction_type("sd1", {}, hint="v_prediction") == "v_prediction"


def test_tokenizers(token_cache):
    clip = load_clip_tokenizer(token_cache, flavour="clip")
    assert clip("a photo of a cat").input_ids == CAT_IDS
    assert len(clip) == 49408 and clip.model_max_length == 77
    assert clip.pad_token == "<|endoftext|>" and clip.pad_token_id == 49407
    openclip = load_clip_tokenizer(token_cache, flavour="openclip")
    assert openclip("a photo of a cat").input_ids == CAT_IDS
    assert openclip.pad_token == "!" and openclip.pad_token_id == 0
    padded = openclip("a cat", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[4:] == [0] * 73
    cfg = json.loads((ensure_tokenizer_dir(token_cache, flavour="clip") / "tokenizer_config.json").read_text())
    assert cfg["model_max_length"] == 77


def test_materialized_pipeline_dir(token_cache):
    from transformers import CLIPTokenizer

    from modules.model_registry.configs import materialize_pipeline_dir

    folder = materialize_pipeline_dir("sdxl", token_cache)
    assert (folder / "unet" / "config.json").is_file() and (folder / "text_encoder_2" / "config.json").is_file()
    tok2 = CLIPTokenizer.from_pretrained(str(folder / "tokenizer_2"), local_files_only=True)
    assert tok2.pad_token == "!" and tok2("a photo of a cat").input_ids == CAT_IDS
