i = 0
while i < 3000000:
    i += 1
print(i)
