pts = []
for i in range(1, 200001):
    pts.append({"x": i, "y": i * 2, "tag": "p"})
s = 0
for p in pts:
    p["x"] += 1
    s += p["x"] + p["y"]
print(s)
