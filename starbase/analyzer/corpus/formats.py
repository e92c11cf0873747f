"""Generators of labelled lines in many real-world log formats (the analyzer's training corpus).

Requires: `lines`. Guarantees: `FORMATS` maps a format name to a `Format` whose `make(rng,
time_ns)` renders one line and its truth (`Labelled`); `generate(names, per_format, seed)` is
deterministic for a seed. The layouts follow the programs' documented defaults: nginx/Apache
access (combined, common), nginx and Apache error logs, syslog RFC 3164 (with and without PRI)
and RFC 5424, logfmt, JSON (several key conventions), log4j/logback, Python logging, Go's log,
Ruby's Logger, PostgreSQL, Kubernetes klog, AWS Lambda, Android logcat, HDFS/Spark/Zookeeper
style Java layouts, MongoDB, Windows CBS, pipe/comma/tab-delimited, key=value apps, epoch-prefixed
lines, stack-trace continuations and plain text. No line comes from a third-party data set.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from starbase.analyzer.corpus.lines import Labelled, LineBuilder, MessageMaker

_LEVELS = (  # (word, severity number, weight)
    ("TRACE", 1, 1),
    ("DEBUG", 5, 4),
    ("INFO", 9, 10),
    ("WARN", 13, 3),
    ("ERROR", 17, 3),
    ("FATAL", 21, 1),
)
_PY_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("DEBUG", 5, 3),
    ("INFO", 9, 10),
    ("WARNING", 13, 3),
    ("ERROR", 17, 3),
)
_PY_LEVELS += (("CRITICAL", 18, 1),)
_PG_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("LOG", 9, 10),
    ("WARNING", 13, 2),
    ("ERROR", 17, 3),
    ("FATAL", 21, 1),
)
_PG_LEVELS += (("DEBUG1", 5, 1), ("NOTICE", 10, 1))
_LETTER = (("D", 5, 3), ("I", 9, 10), ("W", 13, 3), ("E", 17, 3), ("F", 21, 1))
_ANDROID = (("V", 2, 1), ("D", 5, 4), ("I", 9, 8), ("W", 13, 3), ("E", 17, 3))
_SYSLOG_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_SYSLOG_NUMBERS = (21, 19, 18, 17, 13, 10, 9, 5)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LOGGERS = (
    "com.example.shop.CheckoutService",
    "org.apache.kafka.clients.NetworkClient",
    "o.s.web.servlet.DispatcherServlet",
    "io.netty.channel.DefaultChannelPipeline",
    "c.e.payments.Gateway",
    "org.hibernate.SQL",
)
_PY_LOGGERS = ("root", "app.api", "urllib3.connectionpool", "celery.worker", "sqlalchemy.engine")
_SHORT_LOGGERS: tuple[str, ...] = (
    "dfs.DataNode$PacketResponder",
    "spark.SecurityManager",
    "storage.BlockManager",
)
_SHORT_LOGGERS += ("executor.Executor", "mapred.TaskTracker", "dfs.FSNamesystem")
_THREADS = ("main", "pool-1-thread-3", "http-nio-8080-exec-7", "worker-2", "Timer-0", "kafka-io")
_HOSTS = ("web-1", "web-2", "db-primary", "ip-10-0-3-17", "node7.example.com", "cache-a")
_APPS = ("sshd", "cron", "kernel", "nginx", "dockerd", "systemd", "checkout", "payments")


def _pick(rng: random.Random, table: tuple[tuple[str, int, int], ...]) -> tuple[str, int]:
    word, number, _ = rng.choices(table, weights=[w for *_, w in table])[0]
    return word, number


def _dt(time_ns: int, tz: timezone | None = None) -> datetime:
    return datetime.fromtimestamp(time_ns // 1_000_000_000, tz or UTC)


def _frac(time_ns: int, digits: int) -> str:
    return f"{time_ns % 1_000_000_000:09d}"[:digits]


def _truncate(time_ns: int, digits: int) -> int:
    unit: int = 10 ** (9 - digits)
    return time_ns - time_ns % unit


@dataclass(frozen=True)
class Format:
    name: str
    family: str
    make: Callable[[random.Random, int], Labelled]


FORMATS: dict[str, Format] = {}


def _format(name: str, family: str) -> Callable[[Callable[..., Labelled]], Callable[..., Labelled]]:
    def register(fn: Callable[..., Labelled]) -> Callable[..., Labelled]:
        FORMATS[name] = Format(name, family, fn)
        return fn

    return register


def _done(b: LineBuilder, name: str, family: str, time_ns: int | None, sev: int | None) -> Labelled:
    return Labelled(b.text(), name, family, time_ns, sev, dict(b.spans))


# ---------------------------------------------------------------- access logs


def _request(rng: random.Random) -> tuple[str, str, int, int]:
    method = rng.choice(("GET", "GET", "GET", "POST", "PUT", "DELETE"))
    path = rng.choice(("/", "/api/cart", "/api/products/42", "/login", "/static/app.js"))
    if rng.random() < 0.3:
        path += f"?page={rng.randrange(1, 9)}"
    status = rng.choice((200, 200, 200, 201, 301, 304, 404, 500, 502))
    return method, path, status, rng.randrange(0, 50000)


def _ip(rng: random.Random) -> str:
    return (
        f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def _clf_time(time_ns: int, tz: timezone) -> str:
    t = _dt(time_ns, tz)
    offset = t.strftime("%z")
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} {offset}"


def _access(rng: random.Random, time_ns: int, name: str, combined: bool) -> Labelled:
    tz = timezone(timedelta(hours=rng.choice((0, 0, 1, -5, 9))))
    method, path, status, size = _request(rng)
    b = LineBuilder().add(_ip(rng)).add(" - ")
    b.add(rng.choice(("-", "-", "alice", "bob"))).add(" [")
    b.add(_clf_time(time_ns, tz), "timestamp").add("] ")
    b.add(f'"{method} {path} HTTP/1.1" {status} {size}')
    if combined:
        ua = rng.choice(("Mozilla/5.0 (X11; Linux x86_64)", "curl/8.4.0", "Go-http-client/1.1"))
        b.add(f' "{rng.choice(("-", "https://example.com/"))}" "{ua}"')
        if rng.random() < 0.5:
            b.add(f" {rng.random():.3f}")
    b.spans["message"] = (0, len(b.text()))  # an access line's body is the whole line
    return _done(b, name, "access", _truncate(time_ns, 0), None)


@_format("nginx_combined", "access")
def nginx_combined(rng: random.Random, time_ns: int) -> Labelled:
    return _access(rng, time_ns, "nginx_combined", True)


@_format("apache_common", "access")
def apache_common(rng: random.Random, time_ns: int) -> Labelled:
    return _access(rng, time_ns, "apache_common", False)


# ---------------------------------------------------------------- error logs of web servers


@_format("nginx_error", "app")
def nginx_error(rng: random.Random, time_ns: int) -> Labelled:
    levels = (("error", 17, 5), ("warn", 13, 3), ("notice", 10, 2), ("crit", 18, 1))
    word, sev = _pick(rng, levels)
    pid = rng.randrange(10, 30000)
    b = LineBuilder().add(_dt(time_ns).strftime("%Y/%m/%d %H:%M:%S"), "timestamp").add(" [")
    b.add(word, "level").add("] ").add(f"{pid}#{pid}", "pid").add(": ")
    b.add(f"*{rng.randrange(1, 99999)}", "ident").add(" ")  # nginx's connection number
    b.add(f"{MessageMaker(rng)()}, client: {_ip(rng)}", "message")
    return _done(b, "nginx_error", "app", _truncate(time_ns, 0), sev)


@_format("apache_error", "app")
def apache_error(rng: random.Random, time_ns: int) -> Labelled:
    levels = (("notice", 10, 5), ("error", 17, 4), ("warn", 13, 2), ("info", 9, 1))
    word, sev = _pick(rng, levels)
    t = _dt(time_ns)
    stamp = f"{_DAYS[t.weekday()]} {_MONTHS[t.month - 1]} {t.day:02d} {t:%H:%M:%S} {t.year}"
    b = LineBuilder().add("[").add(stamp, "timestamp").add("] [").add(word, "level").add("] ")
    if rng.random() < 0.4:
        b.add(f"[client {_ip(rng)}] ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "apache_error", "app", _truncate(time_ns, 0), sev)


# ---------------------------------------------------------------- syslog


def _bsd_stamp(time_ns: int) -> str:
    t = _dt(time_ns)
    return f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"


@_format("syslog3164", "syslog3164")
def syslog3164(rng: random.Random, time_ns: int) -> Labelled:
    level = rng.choice((3, 4, 5, 6, 6, 6, 7))
    b = LineBuilder()
    with_pri = rng.random() < 0.5
    if with_pri:
        b.add(f"<{rng.choice((0, 1, 3, 4, 10, 16)) * 8 + level}>")
    b.add(_bsd_stamp(time_ns), "timestamp").add(" ").add(rng.choice(_HOSTS), "host").add(" ")
    b.add(rng.choice(_APPS), "service")
    if rng.random() < 0.8:
        b.add("[").add(str(rng.randrange(1, 40000)), "pid").add("]")
    b.add(": ").add(MessageMaker(rng)(), "message")
    sev = _SYSLOG_NUMBERS[level] if with_pri else None
    return _done(b, "syslog3164", "syslog3164", _truncate(time_ns, 0), sev)


@_format("syslog5424", "syslog5424")
def syslog5424(rng: random.Random, time_ns: int) -> Labelled:
    level = rng.choice((3, 4, 5, 6, 6, 6, 7))
    t = _dt(time_ns)
    b = LineBuilder().add(f"<{16 * 8 + level}>1 ")
    b.add(f"{t:%Y-%m-%dT%H:%M:%S}.{_frac(time_ns, 6)}Z", "timestamp").add(" ")
    b.add(rng.choice(_HOSTS), "host").add(" ").add(rng.choice(_APPS), "service").add(" ")
    b.add(str(rng.randrange(1, 40000)), "pid").add(f" {rng.choice(('-', 'ID47', 'http'))} ")
    if rng.random() < 0.5:
        b.add(f'[otel@32473 trace_id="{rng.getrandbits(128):032x}"] ')
    else:
        b.add("- ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "syslog5424", "syslog5424", _truncate(time_ns, 6), _SYSLOG_NUMBERS[level])


# ---------------------------------------------------------------- structured


def _iso(time_ns: int, digits: int = 3) -> str:
    return f"{_dt(time_ns):%Y-%m-%dT%H:%M:%S}.{_frac(time_ns, digits)}Z"


@_format("logfmt", "logfmt")
def logfmt(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    msg = MessageMaker(rng)()
    b = LineBuilder().add("time=").add(_iso(time_ns), "timestamp").add(" level=")
    b.add(word.lower(), "level").add(' msg="').add(msg, "message").add('"')
    b.add(f" service={rng.choice(_APPS)} duration_ms={rng.randrange(1, 900)}")
    return _done(b, "logfmt", "logfmt", _truncate(time_ns, 3), sev)


@_format("json_app", "json")
def json_app(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    keys = rng.choice(
        (
            ("timestamp", "level", "message"),
            ("ts", "lvl", "msg"),
            ("time", "severity", "msg"),
            ("@timestamp", "log.level", "message"),
        )
    )
    epoch = keys[0] == "ts"  # zap-style loggers write epoch seconds
    stamp: object = round(time_ns / 1e9, 3) if epoch else _iso(time_ns)
    record = {keys[0]: stamp, keys[1]: word.lower(), keys[2]: MessageMaker(rng)()}
    record["service"] = rng.choice(_APPS)
    record["latency_ms"] = rng.randrange(1, 500)
    text = json.dumps(record)
    msg_value = json.dumps(record[keys[2]])
    start = text.index(msg_value) + 1
    spans = {"message": (start, start + len(msg_value) - 2)}
    ts_text = json.dumps(stamp) if not epoch else str(stamp)
    ts_start = text.index(ts_text) + (0 if epoch else 1)
    spans["timestamp"] = (ts_start, ts_start + len(str(stamp)))
    truth = _truncate(time_ns, 3) if not epoch else round(time_ns / 1e6) * 1_000_000
    return Labelled(text, "json_app", "json", truth, sev, spans)


@_format("keyvalue_app", "keyvalue")
def keyvalue_app(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S}", "timestamp").add(" ")
    b.add(word, "level").add(" ")
    b.add(
        f"user={rng.choice(('alice', 'bob'))} action={rng.choice(('login', 'buy', 'view'))} "
        f"status={rng.choice(('ok', 'denied'))} took={rng.randrange(1, 99)}ms",
        "message",
    )
    return _done(b, "keyvalue_app", "keyvalue", _truncate(time_ns, 0), sev)


# ---------------------------------------------------------------- application layouts


@_format("log4j", "app")
def log4j(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S},{_frac(time_ns, 3)}", "timestamp")
    b.add(" ").add(word, "level").add(" " * (6 - len(word))).add("[")
    b.add(rng.choice(_THREADS), "thread").add("] ").add(rng.choice(_LOGGERS), "logger")
    b.add(" - ").add(MessageMaker(rng)(), "message")
    return _done(b, "log4j", "app", _truncate(time_ns, 3), sev)


@_format("logback", "app")
def logback(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S}.{_frac(time_ns, 3)}", "timestamp")
    b.add(" [").add(rng.choice(_THREADS), "thread").add("] ").add(word, "level")
    b.add(" " * (6 - len(word))).add(rng.choice(_LOGGERS), "logger").add(" - ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "logback", "app", _truncate(time_ns, 3), sev)


@_format("python_logging", "app")
def python_logging(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _PY_LEVELS)
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S},{_frac(time_ns, 3)}", "timestamp")
    b.add(" - ").add(rng.choice(_PY_LOGGERS), "logger").add(" - ").add(word, "level")
    b.add(" - ").add(MessageMaker(rng)(), "message")
    return _done(b, "python_logging", "app", _truncate(time_ns, 3), sev)


@_format("python_basic", "app")
def python_basic(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _PY_LEVELS)
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S},{_frac(time_ns, 3)}", "timestamp")
    b.add(" ").add(word, "level").add(" [").add(rng.choice(_PY_LOGGERS), "logger").add("] ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "python_basic", "app", _truncate(time_ns, 3), sev)


@_format("go_log", "app")
def go_log(rng: random.Random, time_ns: int) -> Labelled:
    b = LineBuilder().add(f"{_dt(time_ns):%Y/%m/%d %H:%M:%S}", "timestamp").add(" ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "go_log", "app", _truncate(time_ns, 0), None)


@_format("ruby_logger", "app")
def ruby_logger(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS[1:])
    b = LineBuilder().add(f"{word[0]}, [")
    b.add(f"{_dt(time_ns):%Y-%m-%dT%H:%M:%S}.{_frac(time_ns, 6)}", "timestamp")
    b.add(" #").add(str(rng.randrange(1, 40000)), "pid").add("] ")
    b.add(" " * (5 - len(word))).add(word, "level").add(" -- ")
    b.add(rng.choice(("", "api", "worker")), "logger").add(": ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "ruby_logger", "app", _truncate(time_ns, 6), sev)


@_format("postgres", "app")
def postgres(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _PG_LEVELS)
    b = LineBuilder()
    b.add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S}.{_frac(time_ns, 3)} UTC", "timestamp").add(" [")
    b.add(str(rng.randrange(100, 99999)), "pid").add("] ").add(word, "level").add(":  ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "postgres", "app", _truncate(time_ns, 3), sev)


@_format("klog", "app")
def klog(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LETTER[:4])
    t = _dt(time_ns)
    b = LineBuilder().add(word, "level").add(f"{t:%m%d %H:%M:%S}.{_frac(time_ns, 6)}", "timestamp")
    b.add(" " * rng.randrange(1, 4)).add(str(rng.randrange(1, 99999)), "pid").add(" ")
    b.add(f"{rng.choice(('controller', 'reflector', 'server'))}.go:{rng.randrange(10, 999)}")
    b.add("] ").add(MessageMaker(rng)(), "message")
    return _done(b, "klog", "app", _truncate(time_ns, 6), sev)


@_format("lambda", "delimited")
def lambda_text(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS[1:5])
    b = LineBuilder().add(_iso(time_ns), "timestamp").add("\t")
    b.add(
        f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4abc-9def-{rng.getrandbits(48):012x}",
        "ident",
    )
    b.add("\t").add(word, "level").add("\t").add(MessageMaker(rng)(), "message")
    return _done(b, "lambda", "delimited", _truncate(time_ns, 3), sev)


@_format("android", "app")
def android(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _ANDROID)
    t = _dt(time_ns)
    pid = rng.randrange(100, 9999)
    b = LineBuilder().add(f"{t:%m-%d %H:%M:%S}.{_frac(time_ns, 3)}", "timestamp").add(" ")
    b.add(f"{pid:5d}", "pid").add(f" {rng.randrange(100, 9999):5d} ").add(word, "level").add(" ")
    b.add(rng.choice(("ActivityManager", "WindowManager", "PowerManagerService")), "logger")
    b.add(": ").add(MessageMaker(rng)(), "message")
    return _done(b, "android", "app", _truncate(time_ns, 3), sev)


@_format("hdfs", "app")
def hdfs(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS[1:5])
    b = LineBuilder().add(f"{_dt(time_ns):%y%m%d %H%M%S}", "timestamp").add(" ")
    b.add(str(rng.randrange(1, 999)), "pid").add(" ").add(word, "level").add(" ")
    b.add(rng.choice(_SHORT_LOGGERS), "logger").add(": ").add(MessageMaker(rng)(), "message")
    return _done(b, "hdfs", "app", _truncate(time_ns, 0), sev)


@_format("spark", "app")
def spark(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS[1:5])
    b = LineBuilder().add(f"{_dt(time_ns):%y/%m/%d %H:%M:%S}", "timestamp").add(" ")
    b.add(word, "level").add(" ").add(rng.choice(_SHORT_LOGGERS), "logger").add(": ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "spark", "app", _truncate(time_ns, 0), sev)


@_format("zookeeper", "app")
def zookeeper(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS[1:5])
    thread = f"{rng.choice(('QuorumPeer[myid=1]/0.0.0.0:2181', 'SendWorker:188978561024', 'main'))}"
    thread += f":{rng.choice(('Learner', 'QuorumCnxManager$Listener'))}@{rng.randrange(10, 999)}"
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S},{_frac(time_ns, 3)}", "timestamp")
    b.add(" - ").add(word, "level").add(" " * (6 - len(word))).add("[").add(thread, "thread")
    b.add("] - ").add(MessageMaker(rng)(), "message")
    return _done(b, "zookeeper", "app", _truncate(time_ns, 3), sev)


@_format("mongodb", "app")
def mongodb(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LETTER)
    b = LineBuilder()
    b.add(f"{_dt(time_ns):%Y-%m-%dT%H:%M:%S}.{_frac(time_ns, 3)}+0000", "timestamp").add(" ")
    b.add(word, "level").add(" ").add(rng.choice(("NETWORK", "COMMAND", "STORAGE")), "logger")
    b.add("  [").add(f"conn{rng.randrange(1, 999)}", "thread").add("] ")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "mongodb", "app", _truncate(time_ns, 3), sev)


@_format("windows_cbs", "app")
def windows_cbs(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, (("Info", 9, 8), ("Warning", 13, 2), ("Error", 17, 2)))
    b = LineBuilder().add(f"{_dt(time_ns):%Y-%m-%d %H:%M:%S}", "timestamp").add(", ")
    b.add(word, "level").add(" " * (22 - len(word))).add(rng.choice(("CBS", "CSI")), "logger")
    b.add("    ").add(MessageMaker(rng)(), "message")
    return _done(b, "windows_cbs", "app", _truncate(time_ns, 0), sev)


@_format("epoch_app", "app")
def epoch_app(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    b = LineBuilder().add(f"{time_ns // 1_000_000_000}.{_frac(time_ns, 3)}", "timestamp")
    b.add(" ").add(word, "level").add(" ").add(MessageMaker(rng)(), "message")
    return _done(b, "epoch_app", "app", _truncate(time_ns, 3), sev)


@_format("rfc3339_app", "app")
def rfc3339_app(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    t = _dt(time_ns, timezone(timedelta(hours=rng.choice((0, 2, -7)))))
    offset = t.strftime("%z")
    stamp = f"{t:%Y-%m-%dT%H:%M:%S}.{_frac(time_ns, 6)}{offset[:3]}:{offset[3:]}"
    b = LineBuilder().add(stamp, "timestamp").add(" [").add(word, "level").add("] ")
    b.add(rng.choice(_APPS), "service").add(": ").add(MessageMaker(rng)(), "message")
    return _done(b, "rfc3339_app", "app", _truncate(time_ns, 6), sev)


# ---------------------------------------------------------------- delimited


@_format("pipe_delimited", "delimited")
def pipe_delimited(rng: random.Random, time_ns: int) -> Labelled:
    t = _dt(time_ns)
    b = LineBuilder().add(f"{t:%Y%m%d-%H:%M:%S}:{_frac(time_ns, 3)}", "timestamp").add("|")
    b.add(rng.choice(("Step_LSC", "Step_SPUtils", "HiH_DataStore")), "logger").add("|")
    b.add(str(rng.randrange(10_000_000, 40_000_000)), "pid").add("|")
    b.add(MessageMaker(rng)(), "message")
    return _done(b, "pipe_delimited", "delimited", _truncate(time_ns, 3), None)


@_format("csv_events", "delimited")
def csv_events(rng: random.Random, time_ns: int) -> Labelled:
    word, sev = _pick(rng, _LEVELS)
    b = LineBuilder().add(_iso(time_ns), "timestamp").add(",").add(word, "level").add(",")
    b.add(rng.choice(_APPS), "service").add(",").add(str(rng.randrange(1, 999))).add(",")
    b.add(MessageMaker(rng)().replace(",", ";"), "message")
    return _done(b, "csv_events", "delimited", _truncate(time_ns, 3), sev)


# ---------------------------------------------------------------- multi-line and plain


@_format("stacktrace", "continuation")
def stacktrace(rng: random.Random, time_ns: int) -> Labelled:
    kind = rng.random()
    if kind < 0.5:
        cls = rng.choice(_LOGGERS)
        text = f"\tat {cls}.{rng.choice(('run', 'handle', 'call'))}({cls.rsplit('.', 1)[-1]}.java:"
        text += f"{rng.randrange(10, 900)})"
    elif kind < 0.65:
        text = (
            f"Caused by: {rng.choice(('java.net.SocketTimeoutException', 'java.io.IOException'))}"
        )
        text += f": {rng.choice(('Read timed out', 'Connection reset'))}"
    elif kind < 0.8:
        text = f'  File "/app/{rng.choice(("api", "db", "jobs"))}.py", line {rng.randrange(1, 500)}'
        text += f", in {rng.choice(('handle', 'run', '<module>'))}"
    elif kind < 0.9:
        text = "Traceback (most recent call last):"
    else:
        text = f"\t... {rng.randrange(1, 80)} more"
    return Labelled(text, "stacktrace", "continuation", None, None, {"message": (0, len(text))})


@_format("plain", "plain")
def plain(rng: random.Random, time_ns: int) -> Labelled:
    text = MessageMaker(rng)()
    return Labelled(text, "plain", "plain", None, None, {"message": (0, len(text))})


# ---------------------------------------------------------------- corpus


START_NS = 1_790_000_000_000_000_000  # 2026-09-21


def generate(
    names: list[str] | tuple[str, ...] | None = None,
    per_format: int = 200,
    seed: int = 0,
    start_ns: int = START_NS,
) -> list[Labelled]:
    """`per_format` lines of each named format (default: all), times increasing, seeded."""
    out: list[Labelled] = []
    for name in names or sorted(FORMATS):
        rng = random.Random(f"{seed}:{name}")
        time_ns = start_ns + rng.randrange(0, 86_400_000_000_000)
        fmt = FORMATS[name]
        for _ in range(per_format):
            time_ns += rng.randrange(1_000_000, 5_000_000_000)
            out.append(fmt.make(rng, time_ns))
    return out
