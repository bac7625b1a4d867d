sb = []
for i in range(1, 20001):
    sb.append(str(i % 1000).rjust(10))
s = "".join(sb)
print(len(s))
