import os, meshrpc

obj = {}  # an in-memory KVS, as in the original
def get(k):
    return obj.get(k)
def put(k, v):
    obj[k] = v
def inc(k):
    obj[k] = (obj.get(k) or 0) + 1
    return obj[k]
def get_uname():  # tells the caller which OS the server runs
    return " ".join(os.uname())

meshrpc.provide(get, put, inc, get_uname)
