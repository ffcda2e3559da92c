#!/usr/bin/env python3
"""luci-app-presenced in a real browser, on real uhttpd, rpcd, ucode and LuCI.

The procd rig (rig.sh) with presenced's package and luci-app-presenced
installed, uhttpd and rpcd as procd services (rig.sh add-luci), a veth pair
from the host into the rig's network namespace (made and removed here), and
Chromium driven over WebDriver (selenium's client, chromedriver) from the
host: log in as LuCI's users do, then check the page against what the test
set and what its receivers got: the receivers' records, `uci show`, procd's
command line, `ubus call presenced status`. Screenshots go to
build/screenshots/.

Needs root; fails (never skips) when anything is missing.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import test_presenced as t
import ubus_status

HERE = t.HERE
TOP = t.TOP
APP = os.path.join(TOP, "openwrt", "luci-app-presenced")
SHOTS = os.path.join(TOP, "build", "screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "luci %d" % os.getpid()
KEY = t.KEY
NODE_MAC = t.NODE_MAC
CLIENT = t.CLIENT
check = t.check

# Link-local /30 per test run, named by PID: other tests may run at once.
PID = os.getpid()
VETH_HOST, VETH_RIG = f"vlh{PID}"[:15], f"vlr{PID}"[:15]
NET = f"169.254.{(PID >> 6) & 0xff}.{(PID & 0x3f) << 2}"
HOST_ADDR = NET.rsplit(".", 1)[0] + "." + str(int(NET.rsplit(".", 1)[1]) + 1)
RIG_ADDR = NET.rsplit(".", 1)[0] + "." + str(int(NET.rsplit(".", 1)[1]) + 2)


def ip(*args, check_rc=True):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")
    return p


def veth_up(rig_dir):
    procd_pid = open(os.path.join(rig_dir, "procd.pid")).read().strip()
    ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_RIG)
    ip("link", "set", VETH_RIG, "netns", procd_pid)
    ip("addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST)
    ip("link", "set", VETH_HOST, "up")
    t.rig("netns", rig_dir, "ip", "addr", "add", f"{RIG_ADDR}/30", "dev", VETH_RIG)
    t.rig("netns", rig_dir, "ip", "link", "set", VETH_RIG, "up")


def veth_down():
    # Deleting one end deletes both; the rig's end also goes with its namespace.
    ip("link", "del", VETH_HOST, check_rc=False)


def uci_show(rig_dir):
    return t.inside(rig_dir, "uci show presenced", check_rc=False).stdout


class Browser:
    """A Chromium session over WebDriver: selenium's client, Debian's
    chromedriver as the server, a fresh profile."""

    def __init__(self, work):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1800",
                    f"--user-data-dir={os.path.join(work, 'chromium')}", "--no-proxy-server"]:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.service = Service(executable_path=CHROMEDRIVER, log_output=os.path.join(work, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(30)

    def close(self):
        try:
            self.driver.quit()
        except Exception:
            pass

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, f"luci-{name}.png")
        self.driver.save_screenshot(path)
        print(f"     screenshot {os.path.relpath(path, TOP)}", flush=True)
        return path

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def until(self, what, predicate, timeout):
        return t.wait_for(what, lambda: self._try(predicate), timeout, step=0.3)

    @staticmethod
    def _try(predicate):
        try:
            return predicate()
        except Exception:
            return None


def validation_error(browser, option):
    """The message LuCI's widget shows for the option's invalid value (its
    tooltip, while the field has the focus)."""
    return browser.js("var n = document.getElementById(arguments[0]);"
                      "var w = n && L.dom.findClassInstance(n);"
                      "return w && w.getValidationError ? w.getValidationError() : '';",
                      f"cbid.presenced.main.{option}") or ""


def main():
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if os.geteuid() != 0:
        check(False, "runs as root (namespaces, mounts, veth)")
        return
    for path in (t.PRESENCED, t.RECEIVER, CHROMIUM, CHROMEDRIVER):
        if not check(os.access(path, os.X_OK), f"{path} is there"):
            return
    try:
        import selenium  # noqa: F401  (the Makefile installs it under build/)
    except ImportError:
        check(False, "selenium is importable (make test-luci installs it in build/luci-venv)")
        return
    browsers = []

    def body(work, rig_dir):
        run_test(work, rig_dir, browsers)

    def teardown_network():
        veth_down()
        check(ip("link", "show", VETH_HOST, check_rc=False).returncode != 0, f"teardown: {VETH_HOST} is gone")

    t.run_in_rig("presenced-luci-rig-", body,
                 before_down=[lambda: [b.close() for b in browsers if b], teardown_network])


def install(rig_dir, root):
    t.install_package(rig_dir, root)
    t.rig("add-luci", rig_dir, PASSWORD)
    # What LuCI's luci.mk installs of the app: htdocs under /www, root at /.
    shutil.copytree(os.path.join(APP, "htdocs"), os.path.join(root, "www"), dirs_exist_ok=True)
    shutil.copytree(os.path.join(APP, "root"), root, dirs_exist_ok=True)


def run_test(work, rig_dir, browsers):
    t.rig("prepare", rig_dir, timeout=900)
    root = os.path.join(rig_dir, "root")
    install(rig_dir, root)
    t.rig("boot", rig_dir)
    procd_pid = int(open(os.path.join(rig_dir, "procd.pid")).read())
    check(t.wait_for("rpcd and uhttpd", lambda: set(t.service(rig_dir, "uhttpd")[1]) and
                     set(t.service(rig_dir, "rpcd")[1]), 15), "procd runs rpcd and uhttpd")
    veth_up(rig_dir)
    base = f"http://{RIG_ADDR}"

    # --- two receivers in the rig; presenced reports to the first ------------------------------------
    received = os.path.join(work, "received.jsonl")
    second = os.path.join(work, "second.jsonl")
    first = t.start("report server 1", [t.RIG, "netns", rig_dir, sys.executable, t.REPORT_SERVER, "--log", received,
                                        "--key", KEY], stdout=subprocess.PIPE, text=True)
    url1 = f"http://127.0.0.1:{first.stdout.readline().strip()}/first"
    server2 = t.start("report server 2", [t.RIG, "netns", rig_dir, sys.executable, t.REPORT_SERVER, "--log", second,
                                          "--key", KEY], stdout=subprocess.PIPE, text=True)
    url2 = f"http://127.0.0.1:{server2.stdout.readline().strip()}/second"
    t.inside(rig_dir, f"""set -e
uci set presenced.main.enabled=1
uci set presenced.main.url='{url1}'
uci set presenced.main.key='{KEY}'
uci set presenced.main.phy=phy0
uci set presenced.main.rate=2
uci set presenced.main.node_mac={NODE_MAC}
uci commit presenced
/etc/init.d/presenced enable
/etc/init.d/presenced start""")
    check(t.wait_for("presenced", lambda: t.presenced_processes(procd_pid), 15), "presenced runs under procd")
    writer = t.start_writer(rig_dir, work, "writer", [CLIENT, t.STATION])
    check(t.wait_for("a report", lambda: t.reports_at_server(received), 20), "reports reach the first receiver")

    # --- log in ------------------------------------------------------------------------------------------
    browser = Browser(work)
    browsers.append(browser)  # closed at teardown, whatever happens next
    d = browser.driver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    d.get(f"{base}/cgi-bin/luci/admin/services/presenced")
    # The theme's sysauth view moves the form into a modal once luci.js runs:
    # typing before that would go nowhere.
    login = browser.until("the login form", lambda: d.find_element(By.CSS_SELECTOR, ".modal #luci_password"), 20)
    if not check(login, "LuCI asks for a login (bootstrap theme's sysauth)"):
        browser.shot("login-missing")
        return browser
    d.find_element(By.ID, "luci_username").clear()
    d.find_element(By.ID, "luci_username").send_keys("root")
    login.send_keys(PASSWORD)
    # The login page itself answers 403 (LuCI's sysauth does): what the
    # console said until now is not the page's.
    browser.console_errors()
    login.send_keys(Keys.ENTER)
    status = browser.until("the status section", lambda: d.find_element(By.ID, "presenced-reports"), 30)
    check(status, "after the login the page renders, and its status section polled ubus call presenced status")
    form_rate = browser.until("the form", lambda: d.find_element(By.ID, "widget.cbid.presenced.main.rate"), 10)
    check(form_rate, "the settings form renders (Rate field)")
    time.sleep(1)
    browser.shot("page")
    errors = browser.console_errors()
    check(not errors, f"the page loads with no console error {errors}")
    warnings = d.find_elements(By.CSS_SELECTOR, "#presenced-status .alert-message")
    check(not warnings, f"while mon0 is there and the receiver takes reports, no warning {[w.text for w in warnings]}")

    # --- the key field never shows the key back --------------------------------------------------------
    key_input = d.find_element(By.ID, "widget.cbid.presenced.main.key")
    check(key_input.get_attribute("value") == "" and key_input.get_attribute("type") == "password",
          f"the key field is an empty password field (value {key_input.get_attribute('value')!r})")
    check(KEY not in d.page_source and KEY not in json.dumps(browser.js("return window.L && L.uci ? 1 : 0")),
          "the key is nowhere in the page's HTML")
    check("set; type a new one" in (key_input.get_attribute("placeholder") or ""),
          f"the key field says a key is set ({key_input.get_attribute('placeholder')!r})")

    # --- the status section shows what the receiver got -------------------------------------------------
    def delivered_equal():
        shown = d.find_element(By.ID, "presenced-delivered").get_attribute("textContent")
        got = len(t.reports_at_server(received))
        return (int(shown), got) if shown and int(shown) == got else None
    equal = browser.until("the page's count to equal the receiver's", delivered_equal, 40)
    check(equal, f"the status section's delivered reports equal the receiver's records {equal}")
    bars = d.find_elements(By.CSS_SELECTOR, "#presenced-chart rect")
    check(bars and all(b.get_attribute("data-clients").isdigit() for b in bars),
          f"the chart has a bar per report ({len(bars)})")
    got = ubus_status.settled(t.RIG, rig_dir, lambda: t.reports_at_server(received))
    if check(got, "ubus call presenced status in the rig counts what the receiver took"):
        st, records = got
        ubus_status.compare(check, st, records, url1, 2, KEY, "mon0")

    # --- bad values are refused in the form ---------------------------------------------------------------
    before = uci_show(rig_dir)
    url_input = d.find_element(By.ID, "widget.cbid.presenced.main.url")
    for bad, reason in [("ftp://example.org/r", "must start with http:// or https://"),
                        ("http://user:pw@example.org/", "credentials"),
                        ("http://example.org:70000/", "port")]:
        url_input.clear()
        url_input.send_keys(bad)
        url_input.send_keys(Keys.TAB)
        invalid = browser.until("the URL marked invalid", lambda: "cbi-input-invalid" in url_input.get_attribute("class"), 5)
        check(invalid, f"URL {bad!r} is marked invalid in the form")
        shown = validation_error(browser, "url")
        check(reason in shown, f"... with the reason ({reason!r} in {shown!r})")
    url_input.click()  # LuCI shows the reason while the field has the focus
    browser.shot("bad-url")
    rate_input = d.find_element(By.ID, "widget.cbid.presenced.main.rate")
    # LuCI's own datatype messages (validation.js): the reason of each refusal.
    for bad, reason in [("0", "between 1 and 4294967295"), ("-3", "positive integer"),
                        ("1.5", "positive integer"), ("abc", "positive integer")]:
        rate_input.clear()
        rate_input.send_keys(bad)
        rate_input.send_keys(Keys.TAB)
        check(browser.until("the Rate marked invalid", lambda: "cbi-input-invalid" in rate_input.get_attribute("class"), 5),
              f"Rate {bad!r} is marked invalid in the form")
        shown = validation_error(browser, "rate")
        check(reason in shown, f"... with the reason ({reason!r} in {shown!r})")
    rate_input.click()
    browser.shot("bad-rate")
    save = d.find_element(By.CSS_SELECTOR, ".cbi-page-actions .cbi-button-apply")
    save.click()
    time.sleep(2)
    check(uci_show(rig_dir) == before, "Save & Apply with bad values changes nothing in uci show presenced")
    d.get(f"{base}/cgi-bin/luci/admin/services/presenced")

    # --- Rate and URL through the form: uci, procd, the running process ---------------------------------
    rate_input = browser.until("the form again", lambda: d.find_element(By.ID, "widget.cbid.presenced.main.rate"), 30)
    url_input = d.find_element(By.ID, "widget.cbid.presenced.main.url")
    rate_input.clear()
    rate_input.send_keys("3")
    url_input.clear()
    url_input.send_keys(url2)
    url_input.send_keys(Keys.TAB)
    pids_before = t.presenced_processes(procd_pid)
    d.find_element(By.CSS_SELECTOR, ".cbi-page-actions .cbi-button-apply").click()
    shown = t.wait_for("uci to have the new values", lambda: f"presenced.main.rate='3'" in uci_show(rig_dir)
                       and f"presenced.main.url='{url2}'" in uci_show(rig_dir), 30)
    check(shown, "Save & Apply: uci show presenced has rate 3 and the new URL")
    changed = t.wait_for("procd's new command line", lambda: t.command_has(rig_dir, ["--rate", "3"], ["--url", url2]), 30)
    check(changed, "procd reloaded presenced with --rate 3 and the new --url")
    check(t.wait_for("a new presenced", lambda: [p for p in t.presenced_processes(procd_pid) if p not in pids_before],
                     15), "a new presenced process runs")
    check(t.wait_for("a report at the second receiver", lambda: t.reports_at_server(second), 20),
          "the running presenced reports to the URL set in the form")
    check(f"presenced.main.key='{KEY}'" in uci_show(rig_dir), "saving with the key field empty kept the key")
    browser.until("the page back after applying", lambda: d.find_element(By.ID, "presenced-reports"), 30)
    browser.shot("applied")

    # --- the receiver stops: the failed-POST warning ---------------------------------------------------------
    t.stop(server2)
    warning = browser.until("the failed-POST warning", lambda: d.find_element(By.ID, "presenced-warning-post"), 40)
    check(warning, "with the receiver stopped the status shows the failed-POST warning")
    if warning:
        check("did not reach the server" in warning.text, f"... saying so: {warning.text!r}")
    browser.shot("post-failed")

    # --- the monitor interface goes: the missing-interface warning -----------------------------------------
    t.stop(writer)
    t.inside(rig_dir, "mkdir -p /tmp/radio && touch /tmp/radio/phy0.down && ip link del mon0")
    missing = browser.until("the missing-interface warning", lambda: d.find_element(By.ID, "presenced-warning-interface"),
                            40)
    check(missing and "mon0" in missing.text, f"with mon0 gone the status says the monitor interface is missing")
    browser.shot("interface-missing")
    errors = [e for e in browser.console_errors() if "presenced" in e.get("message", "")]
    check(not errors, f"no console error from the page while it polled {errors}")

    # --- a new key through the form: written, and still never shown ------------------------------------
    new_key = f"new key {PID}"
    key_input = d.find_element(By.ID, "widget.cbid.presenced.main.key")
    key_input.send_keys(new_key)
    d.find_element(By.CSS_SELECTOR, ".cbi-page-actions .cbi-button-apply").click()
    check(t.wait_for("the new key in uci", lambda: f"presenced.main.key='{new_key}'" in uci_show(rig_dir), 30),
          "a key typed in the form reaches uci show presenced")
    d.get(f"{base}/cgi-bin/luci/admin/services/presenced")
    key_input = browser.until("the form again", lambda: d.find_element(By.ID, "widget.cbid.presenced.main.key"), 30)
    check(key_input and key_input.get_attribute("value") == "" and new_key not in d.page_source,
          "after reloading the page the key field is empty again and the new key is nowhere in the page")
    return browser


if __name__ == "__main__":
    main()
    print(f"{t.passed} passed, {t.failed} failed")
    sys.exit(1 if t.failed or not t.passed else 0)
