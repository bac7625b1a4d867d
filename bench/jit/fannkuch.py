def run(n):
    perm = [0] * n
    count = [0] * n
    p = list(range(n))
    maxflips = 0
    checksum = 0
    nperm = 0
    r = n
    while True:
        while r != 1:
            count[r - 1] = r
            r -= 1
        for i in range(n):
            perm[i] = p[i]
        flips = 0
        k = perm[0]
        while k != 0:
            lo = 0
            hi = k
            while lo < hi:
                perm[lo], perm[hi] = perm[hi], perm[lo]
                lo += 1
                hi -= 1
            flips += 1
            k = perm[0]
        if flips > maxflips:
            maxflips = flips
        checksum += flips if nperm % 2 == 0 else -flips
        nperm += 1
        while True:
            if r == n:
                return [checksum, maxflips]
            first = p[0]
            for i in range(r):
                p[i] = p[i + 1]
            p[r] = first
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
