import sys, meshrpc
from concurrent.futures import ProcessPoolExecutor

server = sys.argv[1] if len(sys.argv) > 1 else "home"
def count(_):
    home = meshrpc.connect(server)
    for _ in range(1000):
        home.get("hikakin"), home.inc("hikakin")

if __name__ == "__main__":
    home = meshrpc.connect(server)
    print("get", home.get("a"), "put", home.put("a", 10), "get", home.get("a"))
    print("get_uname", home.get_uname())
    with ProcessPoolExecutor(5) as pool: list(pool.map(count, range(5)))
    print("hikakin", home.get("hikakin"))
