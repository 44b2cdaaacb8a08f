import sys

print("hello from", sys.version.split()[0])
