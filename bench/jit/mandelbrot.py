def escapes(cr, ci):
    zr = 0.0
    zi = 0.0
    k = 0
    while k < 200 and zr * zr + zi * zi <= 4.0:
        t = zr * zr - zi * zi + cr
        zi = 2.0 * zr * zi + ci
        zr = t
        k += 1
    return k
def run(size):
    inside = 0
    for y in range(size):
        for x in range(size):
            if escapes(2.0 * x / size - 1.5, 2.0 * y / size - 1.0) == 200:
                inside += 1
    return inside
