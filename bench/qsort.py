def qs(a, lo, hi):
    while lo < hi:
        p = a[lo + int((hi - lo) / 2)]
        i = lo
        j = hi
        while i <= j:
            while a[i] < p:
                i += 1
            while a[j] > p:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        left = j - lo < hi - i
        if left:
            qs(a, lo, j)
            lo = i
        if not left:
            qs(a, i, hi)
            hi = j
xs = []
seed = 12345
for _k in range(1, 100001):
    seed = (seed * 1103515245 + 12345) % 2147483648
    xs.append(seed % 1000000)
qs(xs, 0, len(xs) - 1)
ok = True
for k in range(1, len(xs)):
    if xs[k - 1] > xs[k]:
        ok = False
print("tru" if ok else "fls", xs[0], xs[-1])
