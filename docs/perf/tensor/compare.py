# Markdown side-by-side table of one session directory (arc/torch/numpy TSVs).
import sys, os
def load(path):
    d = {}
    if not os.path.exists(path): return d
    for line in open(path):
        if line.startswith('#') or not line.strip(): continue
        c, v, u = line.rstrip('\n').split('\t')
        d[(c, u)] = float(v)
    return d
base = sys.argv[1]
arc = [load(f'{base}/arc.run{i}.tsv') for i in (1, 2)]
torch = [load(f'{base}/torch.run{i}.tsv') for i in (1, 2)]
numpy = load(f'{base}/numpy.run1.tsv')
targets = {'linear1024_fwd': 0.9, 'linear1024_fwd_bwd': 0.9, 'gelu_tanh_fwd_64x4096': 0.3,
           'layernorm_fwd_64x4096': 1.0, 'rmsnorm_fwd_64x4096': 0.5, 'softmax_fwd_64x4096': 0.6}
rows = [('linear1024_fwd','us/call'),('linear1024_fwd','GFLOPS'),('linear1024_fwd_bwd','us/call'),('linear1024_fwd_bwd','GFLOPS'),
        ('gelu_tanh_fwd_64x4096','us/call'),('layernorm_fwd_64x4096','us/call'),('rmsnorm_fwd_64x4096','us/call'),
        ('softmax_fwd_64x4096','us/call'),('sgemm1024','GFLOPS'),('sgemm2048','GFLOPS'),('add_2x2_nograd','ns/call'),('add_2x2_grad','ns/call')]
def fmt(v): return '—' if v is None else (f'{v:.1f}' if abs(v) >= 100 else f'{v:.3g}' if abs(v) < 10 else f'{v:.1f}')
def best(vals, unit):
    vals = [v for v in vals if v is not None]
    if not vals: return None
    return max(vals) if unit in ('GFLOPS', 'examples/s') else min(vals)
print('| case | unit | arc run 1 | arc run 2 | torch run 1 | torch run 2 | numpy | numpy (BLAS env unset) | arc best / torch best | target | met |')
print('|---|---|---|---|---|---|---|---|---|---|---|')
for c, u in rows:
    a = [r.get((c, u)) for r in arc]; t = [r.get((c, u)) for r in torch]
    n, nu = numpy.get((c, u)), numpy.get((c + '.blas_env_unset', u))
    ab, tb = best(a, u), best(t, u)
    ratio, target, met = '—', '—', '—'
    if c.startswith('sgemm'):
        nb = best([n, nu], u)
        ratio = f'{ab / nb:.2f}× OpenBLAS' if ab and nb else '—'
        target = '≥ 0.85× OpenBLAS'; met = 'yes' if ab and nb and ab / nb >= 0.85 else 'no'
    elif c.startswith('add_2x2'):
        target = '≤ 300 ns'; met = 'yes' if ab and ab <= 300 else 'no'
    elif ab and tb:
        r = ab / tb if u == 'us/call' else tb / ab
        ratio = f'{r:.2f}×'
        if c in targets and u == 'us/call':
            target = f'≤ {targets[c]}× torch'; met = 'yes' if r <= targets[c] else 'no'
    print(f'| {c} | {u} | ' + ' | '.join(fmt(v) for v in a + t + [n, nu]) + f' | {ratio} | {target} | {met} |')
