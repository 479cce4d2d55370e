"""UniPC (Zhao et al. 2023) as A1111 runs it: multistep, data prediction, the discrete-time VP noise schedule.

Time is continuous, t in (0, 1]; the UNet gets `(t - 1/1000) * 1000` (fractional timesteps). A1111's options:
`uni_pc_variant` (bh1 | bh2), `uni_pc_skip_type` (time_uniform | logSNR | time_quadratic), `uni_pc_order`,
`uni_pc_lower_order_final`. The predictor-corrector reuses the model output at the predicted point.
"""
from __future__ import annotations

import torch

from modules.engine.kdiffusion.context import SamplerContext

VARIANTS = ("bh1", "bh2")
SKIP_TYPES = ("time_uniform", "logSNR", "time_quadratic")


def _interpolate(x: torch.Tensor, xp: torch.Tensor, yp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through ascending knots xp, extended linearly past both ends."""
    k = xp.shape[0]
    idx = torch.searchsorted(xp, x.contiguous()).clamp(1, k - 1) - 1
    x0, x1, y0, y1 = xp[idx], xp[idx + 1], yp[idx], yp[idx + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


class NoiseScheduleVP:
    """alpha_t, sigma_t, lambda_t of the discrete schedule, interpolated in t."""

    def __init__(self, alphas_cumprod: torch.Tensor):
        self.total_n = len(alphas_cumprod)
        self.t_array = torch.linspace(0.0, 1.0, self.total_n + 1)[1:].float()
        self.log_alpha_array = (0.5 * torch.log(alphas_cumprod)).float()

    def log_mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return _interpolate(t.reshape(-1), self.t_array.to(t.device), self.log_alpha_array.to(t.device)).reshape(t.shape)

    def alpha(self, t):
        return torch.exp(self.log_mean_coeff(t))

    def std(self, t):
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_mean_coeff(t)))

    def lambda_(self, t):
        log_mean = self.log_mean_coeff(t)
        return log_mean - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_mean))

    def inverse_lambda(self, lamb: torch.Tensor) -> torch.Tensor:
        log_alpha = -0.5 * torch.logaddexp(torch.zeros_like(lamb), -2.0 * lamb)
        flipped_x = torch.flip(self.log_alpha_array, [0]).to(lamb.device)
        flipped_y = torch.flip(self.t_array, [0]).to(lamb.device)
        return _interpolate(log_alpha.reshape(-1), flipped_x, flipped_y).reshape(lamb.shape)


def _time_steps(ns: NoiseScheduleVP, skip_type: str, t_start: float, t_end: float, n: int) -> torch.Tensor:
    if skip_type == "logSNR":
        lam_start = ns.lambda_(torch.tensor(t_start)).item()
        lam_end = ns.lambda_(torch.tensor(t_end)).item()
        return ns.inverse_lambda(torch.linspace(lam_start, lam_end, n + 1))
    if skip_type == "time_quadratic":
        return torch.linspace(t_start ** 0.5, t_end ** 0.5, n + 1).pow(2)
    return torch.linspace(t_start, t_end, n + 1)


class _UniPC:
    def __init__(self, ctx: SamplerContext, ns: NoiseScheduleVP, variant: str):
        if variant not in VARIANTS:
            raise ValueError(f"uni_pc_variant must be one of {VARIANTS}, got {variant!r}")
        self.ctx, self.ns, self.variant = ctx, ns, variant

    def data(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = self.ctx.model(x, (t - 1.0 / self.ns.total_n) * 1000.0)
        return (x - self.ns.std(t) * eps) / self.ns.alpha(t)

    def update(self, x, model_prev, t_prev, t, order, use_corrector):
        ns = self.ns
        t_prev_0, model_prev_0 = t_prev[-1], model_prev[-1]
        lambda_prev_0, lambda_t = ns.lambda_(t_prev_0), ns.lambda_(t)
        sigma_prev_0, sigma_t = ns.std(t_prev_0), ns.std(t)
        alpha_t = torch.exp(ns.log_mean_coeff(t))
        h = lambda_t - lambda_prev_0
        rks, d1s = [], []
        for i in range(1, order):
            rk = (ns.lambda_(t_prev[-(i + 1)]) - lambda_prev_0) / h
            rks.append(rk)
            d1s.append((model_prev[-(i + 1)] - model_prev_0) / rk)
        rks = torch.tensor([*(float(r) for r in rks), 1.0], device=x.device)
        hh = -h
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, b = [], []
        factorial = 1
        for i in range(1, order + 1):
            rows.append(torch.pow(rks, i - 1))
            b.append(float(h_phi_k * factorial / b_h))
            factorial *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial
        r_mat = torch.stack(rows)
        b_vec = torch.tensor(b, device=x.device)
        d1 = torch.stack(d1s, dim=1) if d1s else None
        x_t_ = sigma_t / sigma_prev_0 * x - alpha_t * h_phi_1 * model_prev_0
        pred_res = 0
        if d1 is not None:
            rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(r_mat[:-1, :-1], b_vec[:-1])
            pred_res = torch.einsum("k,bkchw->bchw", rhos_p, d1)
        x_t = x_t_ - alpha_t * b_h * pred_res
        model_t = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(r_mat, b_vec)
            model_t = self.data(x_t, t)
            corr_res = torch.einsum("k,bkchw->bchw", rhos_c[:-1], d1) if d1 is not None else 0
            x_t = x_t_ - alpha_t * b_h * (corr_res + rhos_c[-1] * (model_t - model_prev_0))
        return x_t, model_t


def unipc(ctx: SamplerContext, x, timesteps, alphas_cumprod, is_img2img=False, variant="bh1",
          skip_type="time_uniform", order=3, lower_order_final=True):
    ns = NoiseScheduleVP(alphas_cumprod)
    steps = len(timesteps)
    order = max(1, min(int(order), steps))  # A1111 refuses order > steps; Easel lowers the order instead
    t_end = 1.0 / ns.total_n
    t_start = float(timesteps[-1]) / 1000 + 1 / 1000 if is_img2img else 1.0
    times = _time_steps(ns, skip_type, t_start, t_end, steps).to(x.device)
    solver = _UniPC(ctx, ns, variant)
    vec_t = times[0]  # one time for the whole batch
    model_prev = [solver.data(x, vec_t)]
    t_prev = [vec_t]
    for init_order in range(1, order):
        vec_t = times[init_order]
        x, model_x = solver.update(x, model_prev, t_prev, vec_t, init_order, use_corrector=True)
        if model_x is None:
            model_x = solver.data(x, vec_t)
        ctx.step(init_order - 1, x, model_x)
        model_prev.append(model_x)
        t_prev.append(vec_t)
    for step in range(order, steps + 1):
        vec_t = times[step]
        step_order = min(order, steps + 1 - step) if lower_order_final else order
        x, model_x = solver.update(x, model_prev, t_prev, vec_t, step_order, use_corrector=step != steps)
        ctx.step(step - 1, x, model_x)
        for i in range(order - 1):
            t_prev[i], model_prev[i] = t_prev[i + 1], model_prev[i + 1]
        t_prev[-1] = vec_t
        if step < steps:
            model_prev[-1] = model_x if model_x is not None else solver.data(x, vec_t)
    return x
