def run(n):
    s = 0
    i = 0
    while i < n:
        if i % 2 == 0:
            s += i
        else:
            s -= 1
        i += 1
    return s
