"""A1111 1.10 sampling on diffusers UNets: k-diffusion-style denoisers, sigma schedules and samplers.

Everything here follows what A1111 does with k-diffusion (sd_samplers_kdiffusion.py, sd_schedulers.py,
sd_samplers_timesteps*.py, sd_samplers_cfg_denoiser.py): the UNet is wrapped as a CompVis denoiser whose sigmas
come from the checkpoint's alphas_cumprod, and the samplers step in sigma space (or, for DDIM/PLMS/UniPC, in the
model's discrete timesteps). The code is Easel's own; tests compare it with the k-diffusion package.
"""
