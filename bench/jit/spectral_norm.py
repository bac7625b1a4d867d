import math


def a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1)
def times(v, n, out, tr):
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += (a(j, i) if tr else a(i, j)) * v[j]
        out[i] = s
def run(n):
    u = [1.0] * n
    v = [0.0] * n
    t = [0.0] * n
    for _ in range(10):
        times(u, n, t, False)
        times(t, n, v, True)
        times(v, n, t, False)
        times(t, n, u, True)
    vbv = 0.0
    vv = 0.0
    for i in range(n):
        vbv += u[i] * v[i]
        vv += v[i] * v[i]
    return math.sqrt(vbv / vv)
