"""NLCL losses: layer-contrastive (SupCon, symmetric or asymmetric), location-contrastive (PatchNCE),
LSGAN, consistency and sparsity. Every function works on whole batches and returns a scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon_per_anchor(z: torch.Tensor, labels: torch.Tensor, tau: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Supervised-contrastive loss of every anchor (Khosla et al. 2020, the "out" form).

    For anchor ``i``: ``-1/|P(i)| Σ_{p∈P(i)} log(exp(z_i·z_p/τ_i) / Σ_{a≠i} exp(z_i·z_a/τ_i))`` with
    ``P(i)`` the other samples of the same label.

    Args:
        z: (G, N, D) L2-normalised embeddings, G independent groups of N samples.
        labels: (N,) integer label per sample (shared by the groups).
        tau: a temperature, or (N,) one per anchor (the asymmetric variant).

    Returns:
        ``(loss, valid)``: (G, N) per-anchor losses and a (N,) mask of anchors that have a
        positive (anchors without one get loss 0 and are left out by the callers).
    """
    z = z.float()
    n = z.shape[1]
    tau_t = torch.as_tensor(tau, dtype=z.dtype, device=z.device).reshape(-1)
    tau_t = tau_t.expand(n) if tau_t.numel() == 1 else tau_t
    logits = (z @ z.transpose(1, 2)) / tau_t[None, :, None]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=2, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    summed = log_prob.masked_fill(~pos, 0.0).sum(2)
    loss = -summed / n_pos.clamp(min=1)
    return loss, n_pos > 0


def layer_contrastive(z_b: torch.Tensor, z_r: torch.Tensor, *, tau: float = 0.07, asymmetric: bool = False,
                      tau_b: float = 0.07, tau_r: float = 0.07, weight_b: float = 1.0, weight_r: float = 1.0,
                      form: str = "anchor-mean") -> torch.Tensor:
    """Layer-contrastive loss: SupCon over B samples (one class) and R samples (the other).

    Args:
        z_b: (G, k_B, D) embeddings of the B (clean-layer) samples of each group.
        z_r: (G, k_R, D) embeddings of the R (rain-layer) samples.
        tau: temperature of the symmetric form.
        asymmetric: use separate temperatures and weights for B and R anchors.
        tau_b, tau_r: temperatures of B and R anchors (asymmetric).
        weight_b, weight_r: weights of B and R anchors (asymmetric).
        form: how the asymmetric form pools its anchors: ``anchor-mean`` (each anchor's loss times
            its class weight, averaged over every anchor: at ``tau_b = tau_r = tau`` and weights 1
            exactly the symmetric CVPR loss) or ``class-means`` (``weight_b · mean_B + weight_r ·
            mean_R``, rainset before the ``asymmetric_form`` field: B anchors then weigh half the
            loss instead of k_B / (k_B + k_R)).

    Returns:
        Symmetric: the mean over every anchor with a positive. Asymmetric: as ``form`` says.
    """
    kb, kr = z_b.shape[1], z_r.shape[1]
    z = torch.cat([z_b, z_r], dim=1)
    labels = torch.cat([torch.zeros(kb, dtype=torch.long), torch.ones(kr, dtype=torch.long)]).to(z.device)
    if not asymmetric:
        loss, valid = supcon_per_anchor(z, labels, tau)
        return loss[:, valid].mean()
    taus = torch.cat([torch.full((kb,), tau_b), torch.full((kr,), tau_r)]).to(z.device)
    loss, valid = supcon_per_anchor(z, labels, taus)
    is_b = labels == 0
    if form == "anchor-mean":
        weights = torch.where(is_b, torch.tensor(weight_b), torch.tensor(weight_r)).to(loss)
        return (loss * weights)[:, valid].mean()
    total = z.new_zeros(())
    if (valid & is_b).any():
        total = total + weight_b * loss[:, valid & is_b].mean()
    if (valid & ~is_b).any():
        total = total + weight_r * loss[:, valid & ~is_b].mean()
    return total


def patch_nce(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """PatchNCE: each query's positive is the key at the same location; the other keys of the same
    image are its negatives (cross-entropy over ``q_i·k_j / τ``).

    Args:
        q: (N, S, D) normalised query embeddings (from the output).
        k: (N, S, D) normalised key embeddings (from the input), same locations; detached by callers
            that follow CUT (keys carry no gradient).
        tau: temperature.
    """
    logits = (q.float() @ k.float().transpose(1, 2)) / tau
    target = torch.arange(q.shape[1], device=q.device).expand(q.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator LSGAN loss: ``½(mean (D(real)−1)² + mean D(fake)²)``."""
    return 0.5 * ((real.float() - 1).square().mean() + fake.float().square().mean())


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    """Generator LSGAN loss: ``mean (D(fake)−1)²``."""
    return (fake.float() - 1).square().mean()


def consistency(b: torch.Tensor, r: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
    """Layer consistency ``mean (B + R − O)²``."""
    return (b.float() + r.float() - o.float()).square().mean()


def sparsity(o: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rain sparsity ``mean |O − B|`` (the weight 0.1 is applied by the caller)."""
    return (o.float() - b.float()).abs().mean()
