# make demo: see demo/run.sh. DEMO_CAPTURE picks the capture played.
DEMO_CAPTURE ?= $(SHARED)/data/captures/esp32-sc6-61-2023-04-13.pcap

# The agent's and the server's builds (SQLite is compiled in), ip(8) for the
# virtual interface; python3 plays the capture.
DEMO_PACKAGES := $(BUILD_PACKAGES) iproute2
APT_PACKAGES += $(DEMO_PACKAGES)
.PHONY: demo deps-demo
deps-demo:
	$(call apt_install,$(DEMO_PACKAGES))

demo: deps-demo
	$(CARGO) build --release --locked
	$(CARGO) build --profile server --locked -p presenced-server
	demo/run.sh $(DEMO_CAPTURE)
