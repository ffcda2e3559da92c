#!/usr/bin/env python3
"""The translatable strings of luci-app-presenced, as LuCI's i18n-scan finds
them: every _('...') in the JS view and the menu titles. Writes the gettext
template (po/templates/presenced.pot) with --write, and otherwise checks
that the template holds exactly these strings (a string added to the view
and not to the template fails)."""
import glob
import json
import os
import re
import sys

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "openwrt", "luci-app-presenced")
POT = os.path.join(APP, "po", "templates", "presenced.pot")
CALL = re.compile(r"""\b_\(\s*'((?:[^'\\]|\\.)*)'""")


def strings():
    found = []
    for path in sorted(glob.glob(os.path.join(APP, "htdocs", "**", "*.js"), recursive=True)):
        for m in CALL.finditer(open(path).read()):
            found.append(re.sub(r"\\(.)", r"\1", m.group(1)))
    for path in sorted(glob.glob(os.path.join(APP, "root", "usr", "share", "luci", "menu.d", "*.json"))):
        found += [node["title"] for node in json.load(open(path)).values() if "title" in node]
    unique = []
    for s in found:
        if s not in unique:
            unique.append(s)
    return unique


def po_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def template(found):
    out = ['msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8"', ""]
    for s in sorted(found):
        out += [f"msgid {po_quote(s)}", 'msgstr ""', ""]
    return "\n".join(out)


def in_template(text):
    ids = re.findall(r'^msgid "((?:[^"\\]|\\.)*)"$', text, re.M)
    return [re.sub(r"\\(.)", r"\1", i) for i in ids if i]


if __name__ == "__main__":
    found = strings()
    if "--write" in sys.argv:
        os.makedirs(os.path.dirname(POT), exist_ok=True)
        open(POT, "w").write(template(found))
        print(f"{len(found)} strings in {POT}")
        sys.exit(0)
    have = in_template(open(POT).read()) if os.path.exists(POT) else []
    missing, extra = sorted(set(found) - set(have)), sorted(set(have) - set(found))
    for s in missing:
        print("FAIL not in the template:", s)
    for s in extra:
        print("FAIL in the template, not in the app:", s)
    print(f"{len(found)} strings, {len(missing)} missing, {len(extra)} extra")
    sys.exit(1 if missing or extra or not found else 0)
