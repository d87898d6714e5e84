#!/usr/bin/env python3
"""PyTorch peer of `npm run bench -- --peers` (src/bench/peers.ts drives it).

One process serves JSON requests, one per line on stdin, one JSON answer per line on stdout, so
the bench can interleave btnn and PyTorch slices in one sitting:

  {"cmd": "info"}                                   torch version, BLAS library, threads
  {"cmd": "setup", "workload": "ttm"|"dense", "threads": T, "batch": B, "layers": [...]}
  {"cmd": "steps", "n": N}                          N Adam steps of the set-up network; seconds
  {"cmd": "ard", "threads": T, "batch": B, "layers": [...], "epochs": E, "rows": N,
   "kl": K, "warmup": [S, L], "threshold": [R, A], "lr": X}
                                                    the reference method end to end; seconds

The networks are btnn's (layers come from its spec: modes and ranks). A TTM layer is trained the
way the method's reference code does it: W rebuilt from the cores every step, then one GEMM.
The ARD run is the reference method too: every core sampled (σ = softplus(ρ)), KL to N(0, λ) per
rank slice, λ by the closed-form log-uniform EM update each step, and at each epoch's end dead
slices masked (multiplied by 0): the network keeps computing at full rank. Inputs are random
(speed does not depend on the values). Every draw comes from torch.manual_seed(1).
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F


def blas_library():
    """The BLAS torch runs: the real file behind libblas.so.3 (Debian's alternatives)."""
    for d in ('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'):
        p = os.path.join(d, 'libblas.so.3')
        if os.path.exists(p):
            return os.path.realpath(p)
    return 'unknown'


class Ttm(torch.nn.Module):
    """A TT-matrix linear layer: cores [r_{k-1}, in_k, out_k, r_k]; W rebuilt every forward."""

    def __init__(self, layer):
        super().__init__()
        self.inm, self.outm, self.ranks = layer['inModes'], layer['outModes'], layer['ranks']
        fan_in = math.prod(self.inm)
        d = len(self.inm)
        # Each core's std so that W's entries have He variance 2/fan_in (as btnn's init).
        per = (2.0 / fan_in / math.prod(self.ranks[1:-1])) ** (1.0 / (2 * d))
        self.cores = torch.nn.ParameterList([
            torch.nn.Parameter(torch.randn(self.ranks[k], self.inm[k], self.outm[k], self.ranks[k + 1]) * per)
            for k in range(d)])
        self.bias = torch.nn.Parameter(torch.zeros(math.prod(self.outm)))

    def weight(self, cores):
        w = cores[0]  # [1, i1, j1, r1]
        for c in cores[1:]:
            w = torch.tensordot(w, c, dims=([w.dim() - 1], [0]))
        w = w.squeeze(0).squeeze(-1)  # [i1, j1, i2, j2, ...]
        d = len(self.inm)
        w = w.permute(*range(0, 2 * d, 2), *range(1, 2 * d, 2))
        return w.reshape(math.prod(self.inm), math.prod(self.outm))

    def forward(self, x, cores=None):
        return x @ self.weight(cores if cores is not None else list(self.cores)) + self.bias


def network(workload, layers):
    if workload == 'dense':
        return torch.nn.Sequential(torch.nn.Linear(layers[0]['inFeatures'], layers[0]['outFeatures']), torch.nn.ReLU(),
                                   torch.nn.Linear(layers[1]['inFeatures'], layers[1]['outFeatures']))
    return torch.nn.Sequential(Ttm(layers[0]), torch.nn.ReLU(), Ttm(layers[1]))


class Steps:
    def __init__(self, req):
        torch.manual_seed(1)
        torch.set_num_threads(req['threads'])
        self.net = network(req['workload'], req['layers'])
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        b = req['batch']
        self.x = torch.randn(8, b, req['layers'][0]['inFeatures'])
        self.y = torch.randint(0, req['layers'][-1]['outFeatures'], (8, b))
        self.k = 0
        # Warm-up steps, as btnn's side takes 3 before it is timed: the first steps of a fresh
        # network (allocator, OpenMP's threads) ran well below the rest.
        self.run(5)

    def run(self, n):
        t0 = time.perf_counter()
        for _ in range(n):
            i = self.k % 8
            self.k += 1
            self.opt.zero_grad(set_to_none=True)
            F.cross_entropy(self.net(self.x[i]), self.y[i]).backward()
            self.opt.step()
        return time.perf_counter() - t0


def ard(req):
    """The reference ARD method (METHOD.md §3) on the TTM network, end to end; returns seconds."""
    torch.manual_seed(1)
    torch.set_num_threads(req['threads'])
    layers = [Ttm(l) for l in req['layers']]
    params = [p for l in layers for p in l.parameters()]
    # ρ per core entry, σ = softplus(ρ) starting at 0.01 of the core's init std (btnn's default); λ per rank slice of every bond.
    rhos = [torch.nn.Parameter(torch.full_like(c, math.log(math.expm1(0.01 * c.detach().std().item()))))
            for l in layers for c in l.cores]
    opt = torch.optim.Adam(params + rhos, lr=req['lr'])
    cores = [c for l in layers for c in l.cores]
    owners = [(li, k) for li, l in enumerate(layers) for k in range(len(l.cores))]
    # Bond b of a layer (1..d-1) governs core k-1's last axis and core k's first axis.
    bonds = [(li, b) for li, l in enumerate(layers) for b in range(1, len(l.ranks) - 1)]
    lam = {key: torch.ones(layers[key[0]].ranks[key[1]]) for key in bonds}
    mask = {key: torch.ones(layers[key[0]].ranks[key[1]]) for key in bonds}
    n, b, epochs = req['rows'], req['batch'], req['epochs']
    x_all = torch.randn(n, req['layers'][0]['inFeatures'])
    y_all = torch.randint(0, req['layers'][-1]['outFeatures'], (n,))
    steps_per_epoch = math.ceil(n / b)
    s0, length = req['warmup']
    rel, absolute = req['threshold']

    def governed(ci):
        """The one slice group of a core (btnn's chainGroups): its right bond, the last core its left."""
        li, k = owners[ci]
        last = len(layers[li].cores) - 1
        return (3, (li, k + 1)) if k < last else (0, (li, k))

    def view(axis, v):
        shape = [1] * 4
        shape[axis] = -1
        return v.view(shape)

    def masked(ci, t):
        # A cut slice is zero on both cores of its bond.
        li, k = owners[ci]
        if k > 0:
            t = t * view(0, mask[(li, k)])
        if k < len(layers[li].cores) - 1:
            t = t * view(3, mask[(li, k + 1)])
        return t

    t0 = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(n)
        for s in range(steps_per_epoch):
            idx = order[s * b:(s + 1) * b]
            e = step / steps_per_epoch
            beta = req['kl'] * min(1.0, max(0.0, (e - s0) / length)) if length > 0 else req['kl']
            # λ: closed-form log-uniform update from E[x²] = μ² + σ² (no gradient).
            with torch.no_grad():
                m = {key: torch.zeros_like(lam[key]) for key in bonds}
                d = {key: 0 for key in bonds}
                for ci, c in enumerate(cores):
                    axis, key = governed(ci)
                    sq = c * c + F.softplus(rhos[ci]) ** 2
                    m[key] += sq.sum(dim=[a for a in range(4) if a != axis])
                    d[key] += sq.numel() // sq.shape[axis]
                for key in bonds:
                    lam[key] = m[key] / (d[key] + 1)
            sampled = [masked(ci, c + F.softplus(rhos[ci]) * torch.randn_like(c)) for ci, c in enumerate(cores)]
            h = F.relu(layers[0](x_all[idx], sampled[:len(layers[0].cores)]))
            logits = layers[1](h, sampled[len(layers[0].cores):])
            loss = F.cross_entropy(logits, y_all[idx])
            kl = 0.0
            for ci, c in enumerate(cores):
                axis, key = governed(ci)
                sig2 = F.softplus(rhos[ci]) ** 2
                lv = view(axis, lam[key].clamp_min(1e-30))
                kl = kl + 0.5 * (sig2 / lv + c * c / lv - 1 - torch.log(sig2 / lv)).sum()
            opt.zero_grad(set_to_none=True)
            (loss + beta * kl).backward()
            opt.step()
            step += 1
        with torch.no_grad():
            for key in bonds:
                alive = (lam[key] > absolute) & (lam[key] >= rel * lam[key].max())
                if not alive.any():
                    alive[lam[key].argmax()] = True
                mask[key] = mask[key] * alive.float()
    return time.perf_counter() - t0


def main():
    steps = None
    for line in sys.stdin:
        req = json.loads(line)
        if req['cmd'] == 'info':
            out = {'torch': torch.__version__, 'blas': blas_library(), 'threads': torch.get_num_threads()}
        elif req['cmd'] == 'setup':
            steps = Steps(req)
            steps.run(3)
            out = {'ok': True}
        elif req['cmd'] == 'steps':
            out = {'seconds': steps.run(req['n'])}
        elif req['cmd'] == 'ard':
            out = {'seconds': ard(req)}
        else:
            out = {'error': 'unknown cmd ' + req['cmd']}
        out['maxRssKiB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
