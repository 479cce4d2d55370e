"""The option table: A1111 option keys, defaults and labels that Easel honours."""
from __future__ import annotations

from modules.options import OptionInfo

EMPHASIS_MODES = ["Original", "No norm", "Ignore", "None"]
PATH = "path"  # OptionInfo.kind of folder options: confined to the data dir when set and when used

# Security settings: set by flag (or environment variable) only; options, config.json, the FileBrowser and
# override_settings cannot change them (docs/security.md).
FLAG_ONLY = {
    "api_enable_requests": "--api-disable-requests",
    "api_forbid_local_requests": "--api-allow-local-requests",
}
SAMPLES_FORMATS = ["png", "jpg", "jpeg", "webp"]


def default_options() -> dict[str, OptionInfo]:
    O = OptionInfo  # noqa: E741 - the table reads better with a one-letter constructor
    return {
        # Saving images
        "samples_save": O(True, "Always save all generated images", "saving-images"),
        "samples_format": O("png", "File format for images", "saving-images", choices=SAMPLES_FORMATS),
        "samples_filename_pattern": O("", "Images filename pattern", "saving-images"),
        "save_images_add_number": O(True, "Add number to filename when saving", "saving-images"),
        "grid_save": O(True, "Always save all generated image grids", "saving-images"),
        "grid_format": O("png", "File format for grids", "saving-images", choices=SAMPLES_FORMATS),
        "grid_only_if_multiple": O(True, "Do not save grids consisting of one picture", "saving-images"),
        "n_rows": O(-1, "Grid row count; -1 for autodetect", "saving-images", minimum=-1, maximum=16),
        "jpeg_quality": O(80, "Quality for saved jpeg and webp images", "saving-images", minimum=1, maximum=100),
        "webp_lossless": O(False, "Use lossless compression for webp images", "saving-images"),
        "export_for_4chan": O(True, "Save copy of large images as JPG", "saving-images"),
        "enable_pnginfo": O(True, "Save text information about generation parameters as chunks to png files", "saving-images"),
        "return_grid": O(True, "Show grid in gallery", "ui"),
        "return_mask": O(False, "For inpainting, include the greyscale mask in results", "saving-images"),
        "return_mask_composite": O(False, "For inpainting, include masked composite in results", "saving-images"),
        # Paths
        "outdir_samples": O("", "Output directory for images; if empty, defaults to three directories below", "saving-paths", kind=PATH),
        "outdir_txt2img_samples": O("outputs/txt2img-images", "Output directory for txt2img images", "saving-paths", kind=PATH),
        "outdir_img2img_samples": O("outputs/img2img-images", "Output directory for img2img images", "saving-paths", kind=PATH),
        "outdir_extras_samples": O("outputs/extras-images", "Output directory for images from extras tab", "saving-paths", kind=PATH),
        "outdir_txt2img_grids": O("outputs/txt2img-grids", "Output directory for txt2img grids", "saving-paths", kind=PATH),
        "outdir_img2img_grids": O("outputs/img2img-grids", "Output directory for img2img grids", "saving-paths", kind=PATH),
        "save_to_dirs": O(True, "Save images to a subdirectory", "saving-to-dirs"),
        "directories_filename_pattern": O("[date]", "Directory name pattern", "saving-to-dirs"),
        # Stable Diffusion
        "sd_model_checkpoint": O("", "Stable Diffusion checkpoint", "sd", infotext="Model hash"),
        "sd_checkpoints_limit": O(1, "Maximum number of checkpoints loaded at the same time", "sd", minimum=1, maximum=10),
        "sd_vae": O("Automatic", "SD VAE", "sd", infotext="VAE"),
        "sd_vae_overrides_per_model_preferences": O(True, "Selected VAE overrides per-model preferences", "sd"),
        "disable_nan_check": O(False, "Do not check UNet/VAE outputs for NaNs (a NaN output then gives a black "
                                      "image instead of an error)", "sd"),
        "CLIP_stop_at_last_layers": O(1, "Clip skip", "sd", minimum=1, maximum=12, infotext="Clip skip"),
        "emphasis": O("Original", "Emphasis mode", "sd", choices=EMPHASIS_MODES, infotext="Emphasis"),
        "comma_padding_backtrack": O(20, "Prompt word wrap length limit", "sd", minimum=0, maximum=74),
        "enable_emphasis": O(True, "Enable emphasis", "sd"),
        "use_old_scheduling": O(False, "Use old prompt editing timelines", "compatibility", infotext="Old prompt editing timelines"),
        "sd_lora": O("None", "Add network to prompt", "extra_networks"),
        "sd_hypernetwork": O("None", "Add hypernetwork to prompt", "extra_networks"),
        "extra_networks_default_multiplier": O(1.0, "Default multiplier for extra networks", "extra_networks",
                                               minimum=0.0, maximum=2.0),
        "lora_add_hashes_to_infotext": O(True, "Add Lora hashes to infotext", "extra_networks"),
        "initial_noise_multiplier": O(1.0, "Noise multiplier for img2img", "sd", minimum=0.0, maximum=1.5),
        "img2img_color_correction": O(False, "Apply color correction to img2img results", "img2img"),
        "img2img_fix_steps": O(False, "With img2img, do exactly the amount of steps the slider specifies", "img2img"),
        "img2img_background_color": O("#ffffff", "With img2img, fill transparent parts of the input image with this color", "img2img"),
        "inpainting_mask_weight": O(1.0, "Inpainting conditioning mask strength", "sd", minimum=0.0, maximum=1.0),
        "overlay_inpaint": O(True, "Overlay original for inpaint", "img2img"),
        "tiling": O(False, "Tiling", "sd"),
        "hires_fix_refiner_pass": O("second pass", "Hires fix: which pass to enable refiner for", "sd"),
        # Sampler parameters
        "eta_ddim": O(0.0, "Eta for DDIM", "sampler-params", minimum=0.0, maximum=1.0, infotext="Eta DDIM"),
        "eta_ancestral": O(1.0, "Eta for k-diffusion samplers", "sampler-params", minimum=0.0, maximum=1.0, infotext="Eta"),
        "eta_noise_seed_delta": O(0, "Eta noise seed delta", "sampler-params", minimum=0, maximum=2**32 - 1,
                                  infotext="ENSD"),
        "s_churn": O(0.0, "sigma churn", "sampler-params", minimum=0.0, maximum=100.0),
        "s_tmin": O(0.0, "sigma tmin", "sampler-params", minimum=0.0, maximum=10.0),
        "s_tmax": O(0.0, "sigma tmax", "sampler-params", minimum=0.0, maximum=999.0),
        "s_noise": O(1.0, "sigma noise", "sampler-params", minimum=0.0, maximum=1.1),
        "k_sched_type": O("Automatic", "Scheduler type", "sampler-params"),
        "sigma_min": O(0.0, "sigma min", "sampler-params", infotext="Schedule min sigma"),
        "sigma_max": O(0.0, "sigma max", "sampler-params", infotext="Schedule max sigma"),
        "rho": O(0.0, "rho", "sampler-params", infotext="Schedule rho"),
        "randn_source": O("CPU", "Random number generator source", "sampler-params", choices=["GPU", "CPU", "NV"],
                          infotext="RNG"),
        "always_discard_next_to_last_sigma": O(False, "Always discard next-to-last sigma", "sampler-params",
                                               infotext="Discard penultimate sigma"),
        "sgm_noise_multiplier": O(False, "SGM noise multiplier", "sampler-params", infotext="SGM noise multiplier"),
        "uni_pc_variant": O("bh1", "UniPC variant", "sampler-params", choices=["bh1", "bh2"], infotext="UniPC variant"),
        "uni_pc_skip_type": O("time_uniform", "UniPC skip type", "sampler-params",
                              choices=["time_uniform", "time_quadratic", "logSNR"], infotext="UniPC skip type"),
        "uni_pc_order": O(3, "UniPC order", "sampler-params", minimum=1, maximum=50, infotext="UniPC order"),
        "uni_pc_lower_order_final": O(True, "UniPC lower order final", "sampler-params",
                                      infotext="UniPC lower order final"),
        "beta_dist_alpha": O(0.6, "Beta scheduler - alpha", "sampler-params", minimum=0.01, maximum=1.0,
                             infotext="Beta schedule alpha"),
        "beta_dist_beta": O(0.6, "Beta scheduler - beta", "sampler-params", minimum=0.01, maximum=1.0,
                            infotext="Beta schedule beta"),
        "enable_quantization": O(False, "Enable quantization in K samplers", "sampler-params"),
        "use_old_karras_scheduler_sigmas": O(False, "Use old karras scheduler sigmas (0.1 to 10)", "compatibility"),
        "no_dpmpp_sde_batch_determinism": O(False, "Do not make DPM++ SDE deterministic across batch sizes",
                                            "compatibility"),
        # Face restoration / upscaling
        "face_restoration": O(False, "Restore faces", "face-restoration"),
        "face_restoration_model": O("CodeFormer", "Face restoration model", "face-restoration"),
        "code_former_weight": O(0.5, "CodeFormer weight", "face-restoration", minimum=0.0, maximum=1.0),
        "face_restoration_unload": O(False, "Move face restoration model from VRAM into RAM after processing", "face-restoration"),
        "upscaler_for_img2img": O("None", "Upscaler for img2img", "upscaling"),
        "ESRGAN_tile": O(192, "Tile size for ESRGAN upscalers (0 = no tiling)", "upscaling", minimum=0, maximum=512),
        "ESRGAN_tile_overlap": O(8, "Tile overlap for ESRGAN upscalers (pixels)", "upscaling", minimum=0, maximum=48),
        "DAT_tile": O(192, "Tile size for DAT upscalers (0 = no tiling)", "upscaling", minimum=0, maximum=512),
        "DAT_tile_overlap": O(8, "Tile overlap for DAT upscalers (pixels)", "upscaling", minimum=0, maximum=48),
        "SWIN_tile": O(192, "Tile size for all SwinIR", "upscaling", minimum=16, maximum=512),
        "SWIN_tile_overlap": O(8, "Tile overlap, in pixels for SwinIR", "upscaling", minimum=0, maximum=48),
        # Live previews and UI
        "show_progressbar": O(True, "Show progressbar", "ui"),
        "live_previews_enable": O(True, "Show live previews of the created image", "ui"),
        "live_previews_image_format": O("png", "Live preview file format", "ui", choices=["jpeg", "png", "webp"]),
        "show_progress_every_n_steps": O(10, "Live preview display period (steps); -1 disables", "ui", minimum=-1, maximum=32),
        "show_progress_type": O("Approx cheap", "Live preview method", "ui", choices=["Full", "Approx cheap"]),
        "send_seed": O(True, "Send seed when sending prompt or image to other interface", "ui"),
        "send_size": O(True, "Send size when sending prompt or image to another interface", "ui"),
        "quicksettings_list": O(["sd_model_checkpoint", "sd_vae"], "Quicksettings list", "ui"),
        "add_model_hash_to_info": O(True, "Add model hash to infotext", "infotext"),
        "add_model_name_to_info": O(True, "Add model name to infotext", "infotext"),
        "add_user_name_to_info": O(False, "Add user name to infotext when authenticated", "infotext"),
        "add_version_to_infotext": O(True, "Add program version to infotext", "infotext"),
        "add_vae_name_to_info": O(True, "Add VAE name to infotext", "infotext"),
        "add_vae_hash_to_info": O(True, "Add VAE hash to infotext", "infotext"),
        "enable_prompt_comments": O(True, "Enable comments", "ui"),
        # API
        "api_enable_requests": O(True, "Allow http:// and https:// URLs for input images in API", "api", restrict_api=True),
        "api_forbid_local_requests": O(True, "Forbid URLs to local resources", "api", restrict_api=True),
        "api_useragent": O("", "User agent for requests", "api", restrict_api=True),
        # System
        "memmon_poll_rate": O(8, "VRAM usage polls per second during generation", "system", minimum=0, maximum=40),
        "multiple_tqdm": O(True, "Add a second progress bar to the console", "system"),
        "disable_mmap_load_safetensors": O(False, "Disable memmapping for loading .safetensors files", "system"),
        "print_hypernet_extra": O(False, "Print extra hypernetwork information to console", "system"),
        "unload_models_when_training": O(False, "Move VAE and CLIP to RAM when training", "training"),
        "interrogate_keep_models_in_memory": O(False, "Keep models in VRAM", "interrogate"),
        "disabled_extensions": O([], "Disabled extensions", "extensions"),
    }


def pinned_from_flags(cmd_opts) -> dict[str, tuple[object, str]]:
    """The FLAG_ONLY options' values from the flags: {key: (value, flag)} for `Options.pinned`."""
    return {
        "api_enable_requests": (not getattr(cmd_opts, "api_disable_requests", False), FLAG_ONLY["api_enable_requests"]),
        "api_forbid_local_requests": (not getattr(cmd_opts, "api_allow_local_requests", False),
                                      FLAG_ONLY["api_forbid_local_requests"]),
    }
