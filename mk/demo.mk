# make demo: see demo/run.sh. DEMO_CAPTURE picks the capture played.
DEMO_CAPTURE ?= $(SHARED)/data/captures/esp32-sc6-61-2023-04-13.pcap

.PHONY: demo
demo: deps
	$(CARGO) build --release --locked
	demo/run.sh $(DEMO_CAPTURE)
