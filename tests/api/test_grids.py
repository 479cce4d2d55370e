"""Grids as A1111 makes them: `save_images` requests get the batch grid first (`return_grid`) and saved to the grids
folder (`grid_save`, `grid_format`, `n_rows`, `grid_only_if_multiple`); file and folder name patterns; the X/Y/Z
legend and prompt-matrix labels; PNG Info infers styles ("Styles array")."""
from __future__ import annotations

import json

from PIL import Image

from tests.support import decode_b64_image

SMALL = {"prompt": "a boat", "steps": 2, "width": 64, "height": 64, "seed": 21}


def generate(api, **fields):
    response = api.post("/sdapi/v1/txt2img", json={**SMALL, **fields})
    assert response.status_code == 200, response.text
    data = response.json()
    generate.raw = data["images"]
    return [decode_b64_image(i) for i in data["images"]], json.loads(data["info"])


def grids_folder(api_server):
    return api_server.data_dir / "outputs" / "txt2img-grids"


def dark_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels of `box` are clearly not the white grid background (legend text is black)."""
    return sum(image.convert("L").crop(box).histogram()[:128])


def test_batch_grid_is_returned_first_and_saved(api, api_server):
    before = set(grids_folder(api_server).rglob("grid-*.png"))
    images, info = generate(api, batch_size=2, save_images=True, prompt="a grid boat")
    assert len(images) == 3 and info["index_of_first_image"] == 1
    assert images[0].size == (128, 64)  # 2 images: one row of two (A1111 rows = round(sqrt(n)))
    assert images[0].crop((64, 0, 128, 64)).tobytes() == images[2].convert("RGB").tobytes()
    assert info["infotexts"][0] == info["infotexts"][1] and len(info["infotexts"]) == 3
    saved = set(grids_folder(api_server).rglob("grid-*.png")) - before
    assert len(saved) == 1
    grid_file = saved.pop()
    assert grid_file.parent.parent == grids_folder(api_server)  # in a date folder (grid_save_to_dirs)
    assert Image.open(grid_file).info["parameters"] == info["infotexts"][0]

    plain, plain_info = generate(api, batch_size=2)  # API without save_images: no grid (A1111 do_not_save_grid)
    assert len(plain) == 2 and plain_info["index_of_first_image"] == 0


def test_grid_options(api, api_server):
    images, _ = generate(api, batch_size=2, save_images=True,
                         override_settings={"return_grid": False, "grid_format": "jpg"})
    assert len(images) == 2  # not returned, but saved as JPEG
    assert list(grids_folder(api_server).rglob("grid-*.jpg"))
    images, _ = generate(api, batch_size=2, n_iter=2, save_images=True, override_settings={"n_rows": 0})
    assert images[0].size == (128, 128)  # n_rows 0: as many rows as the batch size
    images, _ = generate(api, batch_size=3, save_images=True, override_settings={"n_rows": -1})
    assert images[0].size == (128, 128)  # 3 images: two rows of two, one spot empty
    images, _ = generate(api, batch_size=3, save_images=True, override_settings={"grid_prevent_empty_spots": True})
    assert images[0].size == (192, 64)
    images, _ = generate(api, save_images=True)
    assert len(images) == 1  # one picture: no grid (grid_only_if_multiple)
    images, _ = generate(api, save_images=True, override_settings={"grid_only_if_multiple": False})
    assert len(images) == 2


def test_filename_and_directory_patterns(api, api_server):
    overrides = {"samples_filename_pattern": "[seed]-[steps]-[prompt_words]", "directories_filename_pattern":
                 "[model_name]", "outdir_txt2img_samples": "outputs/patterned"}
    generate(api, save_images=True, prompt="a (red) boat", override_settings=overrides)
    files = [p.relative_to(api_server.data_dir).as_posix()
             for p in (api_server.data_dir / "outputs" / "patterned").rglob("*.png")]
    assert files == ["outputs/patterned/tiny-a/00000-21-2-a_red_boat.png"]  # storage keys: no spaces
    generate(api, save_images=True, override_settings={**overrides, "save_images_add_number": False,
                                                       "samples_filename_pattern": "[seed]_[cfg]"})
    assert (api_server.data_dir / "outputs" / "patterned" / "tiny-a" / "21_7.0.png").exists()
    generate(api, save_images=True, override_settings={**overrides, "save_images_add_number": False,
                                                       "samples_filename_pattern": "[seed]_[cfg]"})
    assert (api_server.data_dir / "outputs" / "patterned" / "tiny-a" / "00001-21_7.0.png").exists()  # taken: numbered


def test_xyz_legend_and_margins(api):
    args = ["Steps", "1, 2", [], "CFG Scale", "3, 7", [], "Nothing", "", []]
    bare, _ = generate(api, script_name="X/Y/Z plot", script_args=[*args, False])  # draw_legend off
    assert bare[0].size == (128, 128)
    legend, info = generate(api, script_name="X/Y/Z plot", script_args=[*args, True])
    width, height = legend[0].size
    assert width > 128 and height > 128  # a band above the columns, one left of the rows
    pad_left, pad_top = width - 128, height - 128
    assert dark_pixels(legend[0], (pad_left, 0, width, pad_top)) > 20  # "Steps: 1", "Steps: 2"
    assert dark_pixels(legend[0], (0, pad_top, pad_left, height)) > 20  # "CFG Scale: 3.0", ...
    assert legend[0].crop((pad_left, pad_top, width, height)).tobytes() == bare[0].tobytes()
    assert "X Type: Steps" in info["infotexts"][0]
    spaced, _ = generate(api, script_name="X/Y/Z plot",
                         script_args=[*args, True, False, False, False, False, False, False, 10])
    assert spaced[0].size == (width + 10, height + 10)  # margin_size between the cells


def test_prompt_matrix_labels(api):
    images, info = generate(api, prompt="a cat|red|blue", script_name="Prompt matrix",
                            script_args=[False, False, "positive", "comma", 0])
    grid = images[0]
    assert info["index_of_first_image"] == 1 and len(images) == 5
    assert grid.width > 128 and grid.height > 128  # labelled: "red" over the columns, "blue" by the rows
    pad_left, pad_top = grid.width - 128, grid.height - 128
    assert dark_pixels(grid, (pad_left, 0, grid.width, pad_top)) > 10
    assert dark_pixels(grid, (0, pad_top, pad_left, grid.height)) > 10
    # the grid cells are the combinations in A1111's order: "a cat" top left, "a cat, red" to its right
    assert grid.crop((pad_left + 64, pad_top, pad_left + 128, pad_top + 64)).tobytes() == \
        images[2].convert("RGB").tobytes()


def test_png_info_infers_styles(api, api_server):
    styles = api_server.data_dir / "styles.csv"
    styles.write_text('name,prompt,negative_prompt\nNoir,"{prompt}, film noir",grain\nWide,wide angle,\n',
                      encoding="utf-8")
    try:
        images, info = generate(api, prompt="a street", negative_prompt="blur", styles=["Noir", "Wide"])
        text = info["infotexts"][0]
        assert text.startswith("a street, film noir, wide angle\nNegative prompt: blur, grain")
        parsed = api.post("/sdapi/v1/png-info", json={"image": generate.raw[0]}).json()["parameters"]
        assert parsed["Prompt"] == "a street" and parsed["Negative prompt"] == "blur"
        assert parsed["Styles array"] == ["Noir", "Wide"]
    finally:
        styles.unlink()
