"""DPM-Solver (Lu et al. 2022) in k-diffusion's form: "DPM fast" (fixed orders 3/2/1) and "DPM adaptive"
(embedded 2/3 pair with a PID step-size controller). Time is t = -log(sigma); they take a sigma range, not a
schedule.
"""
from __future__ import annotations

import math

import torch

from modules.engine.kdiffusion.context import SamplerContext
from modules.engine.kdiffusion.k_samplers import ancestral_step


def _sigma(t):
    return t.neg().exp()


def _t(sigma):
    return -sigma.log()


class _Solver:
    def __init__(self, ctx: SamplerContext):
        self.ctx = ctx
        self.calls = 0

    def eps(self, cache: dict, key: str, x, t):
        if key not in cache:
            cache[key] = (x - self.ctx.model(x, _sigma(t))) / _sigma(t)
        return cache[key]

    def step_1(self, x, t, t_next, cache):
        h = t_next - t
        return x - _sigma(t_next) * h.expm1() * self.eps(cache, "eps", x, t)

    def step_2(self, x, t, t_next, cache, r1=1 / 2):
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - _sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return x - _sigma(t_next) * h.expm1() * eps - _sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)

    def step_3(self, x, t, t_next, cache, r1=1 / 3, r2=2 / 3):
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - _sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (x - _sigma(s2) * (r2 * h).expm1() * eps
              - _sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps))
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return x - _sigma(t_next) * h.expm1() * eps - _sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)


def dpm_fast(ctx: SamplerContext, x, sigma_min, sigma_max, n, eta=0.0, s_noise=1.0):
    if sigma_min <= 0 or sigma_max <= 0:
        raise ValueError("sigma_min and sigma_max must not be 0")
    solver, noise = _Solver(ctx), ctx.noise()
    t_start, t_end = _t(torch.tensor(float(sigma_max))), _t(torch.tensor(float(sigma_min)))
    m = math.floor(n / 3) + 1
    ts = torch.linspace(t_start, t_end, m + 1, device=x.device)
    orders = [3] * (m - 2) + [2, 1] if n % 3 == 0 else [3] * (m - 1) + [n % 3]
    for i, order in enumerate(orders):
        cache: dict = {}
        t, t_next = ts[i], ts[i + 1]
        if eta:
            sd, _ = ancestral_step(_sigma(t), _sigma(t_next), eta)
            t_next_ = torch.minimum(t_end, _t(sd))
            su = (_sigma(t_next) ** 2 - _sigma(t_next_) ** 2) ** 0.5
        else:
            t_next_, su = t_next, 0.0
        eps = solver.eps(cache, "eps", x, t)
        ctx.step(i, x, x - _sigma(t) * eps)
        step = {1: solver.step_1, 2: solver.step_2, 3: solver.step_3}[order]
        x = step(x, t, t_next_, cache)
        x = x + su * s_noise * noise(_sigma(t), _sigma(t_next))
    return x


def dpm_adaptive(ctx: SamplerContext, x, sigma_min, sigma_max, order=3, rtol=0.05, atol=0.0078, h_init=0.05,
                 pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.0, s_noise=1.0):
    if sigma_min <= 0 or sigma_max <= 0:
        raise ValueError("sigma_min and sigma_max must not be 0")
    solver, noise = _Solver(ctx), ctx.noise()
    s, t_end = _t(torch.tensor(float(sigma_max))), _t(torch.tensor(float(sigma_min)))
    atol_t, rtol_t = torch.tensor(atol), torch.tensor(rtol)
    controller = _PID(abs(h_init), pcoeff, icoeff, dcoeff, 1.5 if eta else order, accept_safety)
    x_prev = x
    steps = 0
    while s < t_end - 1e-5:
        cache: dict = {}
        t = torch.minimum(t_end, s + controller.h)
        if eta:
            sd, _ = ancestral_step(_sigma(s), _sigma(t), eta)
            t_ = torch.minimum(t_end, _t(sd))
            su = (_sigma(t) ** 2 - _sigma(t_) ** 2) ** 0.5
        else:
            t_, su = t, 0.0
        eps = solver.eps(cache, "eps", x, s)
        denoised = x - _sigma(s) * eps
        if order == 2:
            x_low = solver.step_1(x, s, t_, cache)
            x_high = solver.step_2(x, s, t_, cache)
        else:
            x_low = solver.step_2(x, s, t_, cache, r1=1 / 3)
            x_high = solver.step_3(x, s, t_, cache)
        delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if controller.propose(error):
            x_prev = x_low
            x = x_high + su * s_noise * noise(_sigma(s), _sigma(t))
            s = t
        ctx.step(steps, x, denoised)
        steps += 1
    return x


class _PID:
    """PID step-size controller of the adaptive solver (k-diffusion's PIDStepSizeController)."""

    def __init__(self, h, pcoeff, icoeff, dcoeff, order, accept_safety, eps=1e-8):
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.eps = eps
        self.errs: list[float] = []

    def propose(self, error) -> bool:
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2] = self.errs[1]
            self.errs[1] = self.errs[0]
        self.h *= factor
        return accept
