"""Seeded stochastic paths: generation, power prices and fuel (statistics: floats).

Reproducibility. Every stream (``generation``, ``price:<ISO>``, ``index:<NAME>``) draws
from its own ``numpy.random.Generator`` seeded with ``(seed, crc32(stream), block)``
for blocks of ``BLOCK`` paths, so a path's numbers depend only on the seed, its stream
and its index: not on how many paths run, how they are chunked across workers, or
which other streams exist.

Generation (relative to P50, one factor per path and operating year)::

    g[p, y] = max(0, 1 + sigma_model x Z_p + sigma_iav x e[p, y])      Z, e ~ N(0, 1)

``sigma_model`` (modelling and measurement error) is one draw per path for its whole
life; ``sigma_iav`` (inter-annual variability) is redrawn every year. The N-year mean
then has ``sigma_N = sqrt(sigma_iav^2 / N + sigma_model^2)`` (:mod:`engine.finance.uncertainty`).

Prices and indices (relative to their P50 curve, one factor per path and month): the
log level is a mean-reverting (Ornstein-Uhlenbeck) process with compound-Poisson jumps,
plus an optional long-term random walk::

    dx = -kappa x dt + sigma dW + J dN,    N ~ Poisson(lambda), J ~ N(mu_J, sigma_J)
    L  = sigma_L x W_L                     (long-term level, if sigma_L > 0)
    factor of month m = exp(mean over the month of x + L)

simulated **exactly** month to month: the OU state at the month's end and its average
over the month are drawn jointly (a bivariate normal given the state at the start),
and each jump adds its decayed contribution to both. So a process calibrated on daily
prices gives the right distribution of *monthly* levels without simulating days.
The P50 curve is the median absent jumps (``factor = 1``). Power and fuel shocks can be
correlated (``rho`` between the diffusions ``W``).

Calibration (:func:`calibrate`) to a stored daily series: an AR(1) on daily log
prices gives ``kappa = -ln(phi) x 365.25``; residuals beyond 4 robust standard
deviations (MAD) are jumps (their rate and size), and the AR(1) is refitted without
them; the other residuals give ``sigma``. Prices
below 1 USD/MWh are floored there before the log (a log of a negative price has no
meaning; the shape carries negative hours, the factor only scales it).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK", "MeanRevertingJump", "generation_factors", "process_factors", "calibrate",
           "correlation", "stream_rng"]

BLOCK = 256
DT = 1.0 / 12.0                 # one month, in years
DAYS_PER_YEAR = 365.25


def stream_rng(seed: int, stream: str, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode()), int(block)]))


def _blocks(paths: int) -> range:
    return range((paths + BLOCK - 1) // BLOCK)


def generation_factors(seed: int, paths: int, years: int, sigma_iav: float, sigma_model: float,
                       *, stream: str = "generation") -> np.ndarray:
    """``(paths, years)`` relative generation factors (module docstring)."""
    out = []
    for b in _blocks(paths):
        rng = stream_rng(seed, stream, b)
        z = rng.standard_normal(BLOCK)
        e = rng.standard_normal((BLOCK, years))
        out.append(np.maximum(1.0 + sigma_model * z[:, None] + sigma_iav * e, 0.0))
    return np.concatenate(out)[:paths]


@dataclass(frozen=True)
class MeanRevertingJump:
    """Per-year parameters of the log-level process (module docstring)."""
    kappa: float = 2.0                  # mean reversion, 1/year
    sigma: float = 0.30                 # diffusion volatility, 1/sqrt(year)
    jump_rate: float = 0.0              # jumps per year
    jump_mean: float = 0.0              # log size
    jump_sd: float = 0.0
    long_term_sigma: float = 0.0        # random walk of the long-term level, 1/sqrt(year)

    def to_dict(self) -> dict[str, float]:
        return {"kappa_per_year": self.kappa, "sigma_per_sqrt_year": self.sigma,
                "jumps_per_year": self.jump_rate, "jump_mean_log": self.jump_mean,
                "jump_sd_log": self.jump_sd, "long_term_sigma_per_sqrt_year": self.long_term_sigma}


def _ou_month_moments(kappa: float, sigma: float, dt: float) -> tuple[float, float, float, float, float]:
    """For dx = -k x dt + s dW over ``dt``: ``a = e^{-k dt}`` (state decay), ``b`` (the
    month mean's loading on the start state) and the covariance of (end state, mean)."""
    k, s, t = max(kappa, 1e-9), sigma, dt
    a = np.exp(-k * t)
    b = (1.0 - a) / (k * t)
    var_x = s * s * (1.0 - a * a) / (2.0 * k)
    # integral I = int_0^t x du given x_0 = 0: Var(I), Cov(x_t, I); the mean is I / t
    var_i = s * s / (k * k) * (t - 2.0 * (1.0 - a) / k + (1.0 - a * a) / (2.0 * k))
    cov_xi = s * s / (2.0 * k * k) * (1.0 - a) ** 2
    return float(a), float(b), float(var_x), float(var_i / (t * t)), float(cov_xi / t)


def process_factors(seed: int, stream: str, process: MeanRevertingJump, paths: int, months: int,
                    *, shocks_from: str | None = None, rho: float = 0.0) -> np.ndarray:
    """``(paths, months)`` monthly factors of one process (module docstring). With
    ``shocks_from``, its diffusion shocks are correlated ``rho`` with that stream's."""
    a, b, var_x, var_m, cov = _ou_month_moments(process.kappa, process.sigma, DT)
    # (end state, month mean) = chol @ (z1, z2)
    l11 = np.sqrt(var_x)
    l21 = cov / l11 if l11 > 0 else 0.0
    l22 = np.sqrt(max(var_m - l21 * l21, 0.0))
    k = max(process.kappa, 1e-9)
    out = np.empty((len(_blocks(paths)) * BLOCK, months))
    for blk in _blocks(paths):                  # one block at a time: memory O(BLOCK x months)
        rng = stream_rng(seed, stream, blk)
        z1 = rng.standard_normal((BLOCK, months))
        z2 = rng.standard_normal((BLOCK, months))
        zl = rng.standard_normal((BLOCK, months))
        njumps = rng.poisson(process.jump_rate * DT, BLOCK * months)
        total = int(njumps.sum())
        jsize = rng.normal(process.jump_mean, process.jump_sd or 0.0, total)
        rest = DT - rng.uniform(0.0, DT, total)                # time left in the month after the jump
        owner = np.repeat(np.arange(BLOCK * months), njumps)
        if shocks_from is not None and rho:
            other = stream_rng(seed, shocks_from, blk)
            o1 = other.standard_normal((BLOCK, months))
            o2 = other.standard_normal((BLOCK, months))
            z1 = rho * o1 + np.sqrt(1.0 - rho * rho) * z1
            z2 = rho * o2 + np.sqrt(1.0 - rho * rho) * z2
        j_end = np.bincount(owner, jsize * np.exp(-k * rest), BLOCK * months).reshape(BLOCK, months)
        j_mean = np.bincount(owner, jsize * (1.0 - np.exp(-k * rest)) / (k * DT),
                             BLOCK * months).reshape(BLOCK, months)
        # the month's mean log level and the state at its end, month after month; the
        # long-term level moves at month ends
        shock_mean = l21 * z1 + l22 * z2 + j_mean
        shock_end = l11 * z1 + j_end
        step = process.long_term_sigma * np.sqrt(DT) * zl
        level = np.cumsum(step, axis=1) - step
        x = np.zeros(BLOCK)
        f = out[blk * BLOCK:(blk + 1) * BLOCK]
        for m in range(months):
            f[:, m] = b * x + shock_mean[:, m]
            x = a * x + shock_end[:, m]
        np.exp(f + level, out=f)
    return out[:paths]


def _daily_log(values: np.ndarray, floor: float) -> np.ndarray:
    return np.log(np.maximum(np.asarray(values, dtype=np.float64), floor))


def calibrate(daily_values: np.ndarray, *, floor: float = 1.0, long_term_sigma: float = 0.0,
              min_days: int = 60) -> MeanRevertingJump:
    """Fit the process to consecutive daily averages (module docstring). Fewer than
    ``min_days`` days is a ``ValueError`` (supply the parameters instead)."""
    y = _daily_log(daily_values, floor)
    if y.size < min_days:
        raise ValueError(f"{y.size} days of history; at least {min_days} are needed to calibrate "
                         "(or give the process parameters in the model)")
    x0, x1 = y[:-1], y[1:]
    keep = np.ones(x0.size, dtype=bool)
    for _ in range(2):                      # fit, find the jumps, refit without them
        xm, ym = x0[keep].mean(), x1[keep].mean()
        var0 = float(((x0[keep] - xm) ** 2).sum())
        phi = float(((x0[keep] - xm) * (x1[keep] - ym)).sum() / var0) if var0 > 0 else 0.0
        phi = min(max(phi, 1e-3), 0.9999)
        resid = x1 - (ym + phi * (x0 - xm))
        med = float(np.median(resid))
        robust = 1.4826 * float(np.median(np.abs(resid - med)))
        jumps = np.abs(resid - med) > 4.0 * robust if robust > 0 else np.zeros(resid.size, dtype=bool)
        keep = ~jumps
    normal = resid[~jumps]
    sd_day = float(normal.std(ddof=1)) if normal.size > 1 else 0.0
    kappa_day = -np.log(phi)
    sigma_day = sd_day * np.sqrt(2.0 * kappa_day / (1.0 - phi * phi))
    js = resid[jumps]
    return MeanRevertingJump(kappa=float(kappa_day * DAYS_PER_YEAR),
                             sigma=float(sigma_day * np.sqrt(DAYS_PER_YEAR)),
                             jump_rate=float(jumps.sum() / resid.size * DAYS_PER_YEAR),
                             jump_mean=float(js.mean()) if js.size else 0.0,
                             jump_sd=float(js.std(ddof=1)) if js.size > 1 else 0.0,
                             long_term_sigma=long_term_sigma)


def correlation(a_daily: np.ndarray, b_daily: np.ndarray, *, floor: float = 1.0) -> float:
    """Correlation of the daily log changes of two aligned daily series (0 if either
    is constant or too short)."""
    da = np.diff(_daily_log(a_daily, floor))
    db = np.diff(_daily_log(b_daily, floor))
    if da.size < 3 or da.std() == 0 or db.std() == 0:
        return 0.0
    return float(np.clip(np.corrcoef(da, db)[0, 1], -0.99, 0.99))
