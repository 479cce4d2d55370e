"""The k-diffusion samplers A1111 1.10 offers, as step rules in sigma space (Karras et al. 2022 notation).

Each function is `(ctx, x, sigmas, **options) -> x`. `ctx.model(x, sigma)` returns the CFG-combined denoised
latents; random draws go through `ctx.randn()` in exactly the places k-diffusion calls `torch.randn_like`, so the
per-image generators advance as in A1111 (Euler, Heun and DPM2 draw one noise per step even without churn).
"""
from __future__ import annotations

import numpy as np
import torch

from modules.engine.kdiffusion import schedules
from modules.engine.kdiffusion.context import SamplerContext


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The ODE derivative dx/dsigma (A1111 divides by the scalar sigma directly)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0):
    """(sigma_down, sigma_up): deterministic target and the noise to add back, for an ancestral step."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def _churn(ctx: SamplerContext, x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise):
    """Karras' stochastic churn: raise sigma to sigma_hat by adding noise (one draw every step, used or not)."""
    gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.0
    eps = ctx.randn() * s_noise
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + eps * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
    return x, sigma_hat


def euler(ctx: SamplerContext, x, sigmas, s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(ctx, x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = ctx.model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        ctx.step(i, x, denoised)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


def euler_ancestral(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0):
    noise = ctx.noise()
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        ctx.step(i, x, denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def heun(ctx: SamplerContext, x, sigmas, s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(ctx, x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = ctx.model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        ctx.step(i, x, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigmas[i + 1], ctx.model(x_2, sigmas[i + 1]))
            x = x + (d + d_2) / 2 * dt
    return x


def dpm_2(ctx: SamplerContext, x, sigmas, s_churn=0.0, s_tmin=0.0, s_tmax=float("inf"), s_noise=1.0):
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(ctx, x, sigmas, i, s_churn, s_tmin, s_tmax, s_noise)
        denoised = ctx.model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        ctx.step(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma_hat)
            d_2 = to_d(x_2, sigma_mid, ctx.model(x_2, sigma_mid))
            x = x + d_2 * (sigmas[i + 1] - sigma_hat)
    return x


def dpm_2_ancestral(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0):
    noise = ctx.noise()
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        ctx.step(i, x, denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = sigmas[i].log().lerp(sigma_down.log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigmas[i])
            d_2 = to_d(x_2, sigma_mid, ctx.model(x_2, sigma_mid))
            x = x + d_2 * (sigma_down - sigmas[i])
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def _lms_coefficient(order: int, t: np.ndarray, i: int, j: int) -> float:
    """Integral over [t_i, t_{i+1}] of the Lagrange basis polynomial j through t_i, t_{i-1}, ... (exact)."""
    poly = np.polynomial.Polynomial([1.0])
    for k in range(order):
        if k != j:
            poly = poly * np.polynomial.Polynomial([-float(t[i - k]), 1.0]) / (float(t[i - j]) - float(t[i - k]))
    antiderivative = poly.integ()
    return float(antiderivative(float(t[i + 1])) - antiderivative(float(t[i])))


def lms(ctx: SamplerContext, x, sigmas, order=4):
    sigmas_np = sigmas.detach().cpu().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        ctx.step(i, x, denoised)
        current = min(i + 1, order)
        coeffs = [_lms_coefficient(current, sigmas_np, i, j) for j in range(current)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


def _t(sigma):
    return sigma.log().neg()


def _sigma(t):
    return t.neg().exp()


def dpmpp_2s_ancestral(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0):
    noise = ctx.noise()
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        ctx.step(i, x, denoised)
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = ctx.model(x_2, _sigma(s))
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def dpmpp_sde(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0, r=1 / 2):
    noise = ctx.noise()
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ctx.step(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        s = t + h * r
        fac = 1 / (2 * r)
        sd, su = ancestral_step(_sigma(t), _sigma(s), eta)
        s_ = _t(sd)
        x_2 = (_sigma(s_) / _sigma(t)) * x - (t - s_).expm1() * denoised
        x_2 = x_2 + noise(_sigma(t), _sigma(s)) * s_noise * su
        denoised_2 = ctx.model(x_2, _sigma(s))
        sd, su = ancestral_step(_sigma(t), _sigma(t_next), eta)
        t_next_ = _t(sd)
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (_sigma(t_next_) / _sigma(t)) * x - (t - t_next_).expm1() * denoised_d
        x = x + noise(_sigma(t), _sigma(t_next)) * s_noise * su
    return x


def dpmpp_2m(ctx: SamplerContext, x, sigmas):
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ctx.step(i, x, denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - _t(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


def dpmpp_2m_sde(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0, solver_type="midpoint"):
    if solver_type not in ("heun", "midpoint"):
        raise ValueError("solver_type must be 'heun' or 'midpoint'")
    noise = ctx.noise()
    old_denoised = h_last = h = None
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ctx.step(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + ((-h - eta_h).expm1().neg() / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
        old_denoised = denoised
        h_last = h
    return x


def dpmpp_3m_sde(ctx: SamplerContext, x, sigmas, eta=1.0, s_noise=1.0):
    noise = ctx.noise()
    denoised_1 = denoised_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ctx.step(i, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                d = (denoised - denoised_1) / (h_1 / h)
                x = x + (h_eta.neg().expm1() / h_eta + 1) * d
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def lcm(ctx: SamplerContext, x, sigmas):
    """A1111's LCM sampler: jump to the consistency model's x0, then re-noise to the next sigma."""
    noise = ctx.noise()
    for i in range(len(sigmas) - 1):
        denoised = ctx.model(x, sigmas[i])
        ctx.step(i, x, denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise(sigmas[i], sigmas[i + 1])
    return x


def restart(ctx: SamplerContext, x, sigmas, s_noise=1.0):
    """Restart sampling (Xu et al. 2023) as A1111 runs it: Heun steps; from 20 steps on, a Karras schedule with
    one (36+ steps: two) restart segments that jump back from sigma ~0.1 to ~2 with fresh noise."""
    steps = sigmas.shape[0] - 1
    restart_list: dict[float, list] = {}
    if steps >= 20:
        restart_steps, restart_times = 9, 1
        if steps >= 36:
            restart_steps, restart_times = steps // 4, 2
        sigmas = schedules.karras(steps - restart_steps * restart_times, sigmas[-2].item(), sigmas[0].item())
        restart_list = {0.1: [restart_steps + 1, restart_times, 2]}
    at_index = {int(torch.argmin(abs(sigmas - key), dim=0)): value for key, value in restart_list.items()}
    step_list = []
    for i in range(len(sigmas) - 1):
        step_list.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in at_index:
            n_steps, times, max_sigma = at_index[i + 1]
            min_idx, max_idx = i + 1, int(torch.argmin(abs(sigmas - max_sigma), dim=0))
            if max_idx < min_idx:
                segment = schedules.karras(n_steps, sigmas[min_idx].item(), sigmas[max_idx].item())[:-1]
                for _ in range(times):
                    step_list.extend(zip(segment[:-1], segment[1:]))
    last_sigma = None
    for step_id, (old_sigma, new_sigma) in enumerate(step_list):
        if last_sigma is None:
            last_sigma = old_sigma
        elif last_sigma < old_sigma:
            x = x + ctx.randn() * s_noise * (old_sigma ** 2 - last_sigma ** 2) ** 0.5
        denoised = ctx.model(x, old_sigma)
        d = to_d(x, old_sigma, denoised)
        ctx.step(step_id, x, denoised)
        dt = new_sigma - old_sigma
        if new_sigma == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, new_sigma, ctx.model(x_2, new_sigma))
            x = x + (d + d_2) / 2 * dt
        last_sigma = new_sigma
    return x
