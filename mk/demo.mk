# make demo: see demo/run.sh. DEMO_CAPTURE picks the capture played.
DEMO_CAPTURE ?= $(SHARED)/data/captures/esp32-sc6-61-2023-04-13.pcap

.PHONY: demo
demo: deps
	$(CARGO) build --release --locked
	$(CARGO) build --profile server --locked -p presenced-server
	demo/run.sh $(DEMO_CAPTURE)
