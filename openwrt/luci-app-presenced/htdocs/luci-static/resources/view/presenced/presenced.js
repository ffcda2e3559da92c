'use strict';
'require view';
'require form';
'require rpc';
'require poll';
'require fs';
'require uci';

// The settings of /etc/config/presenced with the checks of its init script
// (validate_presenced_section and require_decimal), and presenced's own
// check of the URL, which the init script leaves to presenced. The keys are
// write-only: the form never reads them back, an empty field keeps them.
// Above the form, the status section polls `ubus call presenced status`.

var callStatus = rpc.declare({
	object: 'presenced',
	method: 'status',
	expect: { '': {} }
});

var POLL_SECONDS = 5;
var NET_DEVICES = '/sys/class/net/';

// presenced's URL rules (src/http/request.rs, Target::parse): http:// or
// https://, a host of letters, digits, '-', '.', '_' (or an IPv6 address in
// brackets), a port from 1 to 65535, no credentials, no spaces.
function checkUrl(value) {
	if (/[\x00-\x20\x7f]/.test(value))
		return _('The URL contains spaces or control characters');
	var m = value.match(/^(https?):\/\/([^\/?#]*)/i);
	if (!m)
		return _('The URL must start with http:// or https://');
	var authority = m[2];
	if (authority.indexOf('@') >= 0)
		return _('The URL has credentials before the host, which presenced does not send');
	var host = authority, port = null;
	var v6 = authority.match(/^\[([0-9a-fA-F:.]+)\](?::(.*))?$/);
	if (v6) {
		host = v6[1];
		port = (v6[2] != null) ? v6[2] : null;
	}
	else if (authority.indexOf('[') >= 0) {
		return _('The URL has a bad IPv6 address in [ ]');
	}
	else if (authority.lastIndexOf(':') >= 0) {
		host = authority.substring(0, authority.lastIndexOf(':'));
		port = authority.substring(authority.lastIndexOf(':') + 1);
	}
	if (host == '')
		return _('The URL has no host');
	if (!v6 && !/^[A-Za-z0-9._-]+$/.test(host))
		return _('The URL has characters that cannot be in a host name');
	if (port != null && port != '' && (!/^[0-9]+$/.test(port) || +port < 1 || +port > 65535))
		return _('The URL has a port that is not 1 to 65535');
	return true;
}

// A key field that is never filled in from the configuration: the input
// starts empty whatever is stored, saving it empty keeps the stored key
// (remove does nothing), and a value typed in is written as any other.
function writeOnly(s, name, title, description) {
	var o = s.option(form.Value, name, title, description);
	o.password = true;
	o.rmempty = true;
	o.load = function(section_id) {
		this.placeholder = uci.get('presenced', section_id, name)
			? _('set; type a new one to change it') : _('not set');
		return '';
	};
	o.remove = function() {};
	return o;
}

function requiredWriteOnly(s, name, title, description) {
	var o = writeOnly(s, name, title, description);
	// As the init script: enabled without a key does not start.
	o.validate = function(section_id, value) {
		if ((value == null || value === '') && !uci.get('presenced', section_id, name) &&
		    this.section.formvalue(section_id, 'enabled') == '1')
			return _('A key is needed to start the service');
		return true;
	};
	return o;
}

function fmtTime(epoch) {
	return epoch ? new Date(epoch * 1000).toLocaleString() : '-';
}

function deliveryText(r) {
	if (r.result == 'accepted' || r.result == 'refused')
		return _('HTTP %d').format(r.http_status);
	if (r.result == 'failed')
		return _('failed: %s').format(r.error || '?');
	return _('printed');
}

function chart(reports) {
	var w = 320, h = 64, n = Math.max(reports.length, 1);
	var max = Math.max.apply(null, reports.map(function(r) { return r.clients; }).concat([1]));
	var bar = Math.floor(w / n);
	var svg = '<svg id="presenced-chart" xmlns="http://www.w3.org/2000/svg" width="' + w + '" height="' + (h + 14) + '">';
	reports.forEach(function(r, i) {
		var bh = Math.round(h * r.clients / max);
		var fill = (r.result == 'accepted' || r.result == 'printed') ? '#4a90d9' : '#d9534f';
		svg += '<rect data-clients="' + r.clients + '" x="' + (i * bar + 1) + '" y="' + (h - bh) + '" width="' +
			Math.max(bar - 2, 1) + '" height="' + bh + '" fill="' + fill + '"><title>' +
			fmtTime(r.time) + ': ' + r.clients + '</title></rect>';
	});
	svg += '<text x="0" y="' + (h + 12) + '" font-size="10">' + _('clients per window, last %d reports (max %d)').format(reports.length, max) + '</text>';
	return svg + '</svg>';
}

function row(label, value, id) {
	return E('tr', { 'class': 'tr' }, [
		E('td', { 'class': 'td left', 'width': '33%' }, label),
		E('td', { 'class': 'td left', 'id': id }, value)
	]);
}

return view.extend({
	load: function() {
		return uci.load('presenced');
	},

	renderStatus: function(st, interfacePresent) {
		var warnings = [];
		var running = st && st.version != null;
		var source = running ? st.config.source : (uci.get('presenced', 'main', 'source') || 'monitor');
		var iface = running ? st.config.interface : (uci.get('presenced', 'main', 'interface') || 'mon0');
		var enabled = uci.get('presenced', 'main', 'enabled') == '1';

		var phy = uci.get('presenced', 'main', 'phy');
		if (source == 'monitor' && !interfacePresent)
			warnings.push(E('div', { 'class': 'alert-message warning', 'id': 'presenced-warning-interface' }, phy
				? _('The monitor interface %s is missing: nothing is captured until it is back (presenced-monitor creates it on %s once that radio is up).').format(iface, phy)
				: _('The monitor interface %s is missing: nothing is captured. Set a phy to have it created, or create it (iw phy phy0 interface add %s type monitor).').format(iface, iface)));
		if (running && st.totals.failing_in_a_row > 0) {
			var last = st.reports[st.reports.length - 1] || {};
			warnings.push(E('div', { 'class': 'alert-message warning', 'id': 'presenced-warning-post' },
				_('The last %d report(s) did not reach the server (%s); reports are dropped unless a spool is set.').format(st.totals.failing_in_a_row, deliveryText(last))));
		}
		if (running && source == 'hostapd' && !st.source.connected)
			warnings.push(E('div', { 'class': 'alert-message warning', 'id': 'presenced-warning-hostapd' },
				_('Not connected to hostapd over ubus: no probe requests are read.')));
		if (!running)
			warnings.push(E('div', { 'class': 'alert-message', 'id': 'presenced-not-running' },
				enabled ? _('presenced is enabled but not running (see the system log).') : _('presenced is not running.')));

		var body = [E('h3', _('Status'))].concat(warnings);
		if (running) {
			var win = st.window, drops = [];
			for (var reason in win.drops)
				drops.push('%s %d'.format(reason, win.drops[reason]));
			var last = st.reports[st.reports.length - 1];
			var rows = [
				row(_('Version'), st.version, 'presenced-version'),
				row(_('Source'), source == 'hostapd'
					? _('hostapd over ubus: %s').format((st.source.objects || []).join(', ') || _('no object'))
					: _('monitor interface %s').format(iface), 'presenced-source'),
				row(_('Reports sent / delivered'), '%d / %d'.format(st.totals.reports, st.totals.accepted), 'presenced-reports'),
				row(_('Last report'), last ? '%s, %d clients, %d bytes, %s in %d ms'.format(fmtTime(last.time), last.clients, last.bytes, deliveryText(last), last.duration_ms) : _('none yet'), 'presenced-last-report'),
				row(_('Current window'), _('since %s: %d clients, %d frames').format(fmtTime(win.start), win.clients, win.frames), 'presenced-window'),
				row(_('Drops in this window'), drops.join(', '), 'presenced-drops')
			];
			if (st.spool)
				rows.push(row(_('Spool'), _('%d report(s), %d of %d bytes').format(st.spool.reports, st.spool.bytes, st.spool.limit), 'presenced-spool'));
			body.push(E('table', { 'class': 'table' }, rows));
			var chartBox = E('div', { 'id': 'presenced-chart-box' });
			chartBox.innerHTML = chart(st.reports);
			body.push(chartBox);
			body.push(E('span', { 'id': 'presenced-delivered', 'style': 'display:none' }, String(st.totals.accepted)));
		}
		return body;
	},

	pollStatus: function(container) {
		var iface = uci.get('presenced', 'main', 'interface') || 'mon0';
		return Promise.all([
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(fs.stat(NET_DEVICES + iface), null)
		]).then(L.bind(function(res) {
			var st = res[0];
			var present = res[1] != null;
			if (st && st.config && st.config.interface)
				iface = st.config.interface;
			container.replaceChildren.apply(container, this.renderStatus(st, present));
		}, this));
	},

	render: function() {
		var m, s, o;
		var status = E('div', { 'class': 'cbi-section', 'id': 'presenced-status' }, E('em', _('Collecting data...')));

		m = new form.Map('presenced', _('Presence reporting'),
			_('presenced turns the probe requests of nearby phones and laptops into signed Presence Reporting API reports, POSTed every Rate seconds.'));

		s = m.section(form.NamedSection, 'main', 'presenced', _('Settings'));
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enable'), _('Starts the service (needs a URL and a key).'));
		o.rmempty = false;

		o = s.option(form.ListValue, 'source', _('Source'), _('Where probe requests come from: a monitor interface, or hostapd\'s probe notifications over ubus (no monitor interface; needs a node MAC or a radio\'s).'));
		o.value('monitor', _('Monitor interface'));
		o.value('hostapd', _('hostapd over ubus'));
		o.default = 'monitor';

		o = s.option(form.Value, 'interface', _('Monitor interface'));
		o.placeholder = 'mon0';
		o.depends('source', 'monitor');

		o = s.option(form.Value, 'phy', _('Create it on phy'), _('When set (e.g. phy0), the monitor interface is created on this phy if missing.'));
		o.depends('source', 'monitor');

		o = s.option(form.Value, 'url', _('URL'), _('Where reports are POSTed (http:// or https://).'));
		o.validate = function(section_id, value) {
			if (value == null || value === '')
				return this.section.formvalue(section_id, 'enabled') == '1' ? _('A URL is needed to start the service') : true;
			return checkUrl(value);
		};

		requiredWriteOnly(s, 'key', _('Key'), _('HMAC-SHA256 key of the Signature header. Never shown; leave empty to keep the one set.'));

		o = s.option(form.Value, 'rate', _('Rate'), _('Seconds per report.'));
		o.datatype = 'and(uinteger,range(1,4294967295))';
		o.placeholder = '30';

		o = s.option(form.Value, 'network_id', _('Network ID'));
		o.datatype = 'and(uinteger,range(0,2147483647))';
		o.placeholder = '0';

		o = s.option(form.Value, 'node_mac', _('Node MAC'), _('node_mac of the reports; empty: the capture interface\'s MAC.'));
		o.datatype = 'macaddr';

		o = s.option(form.Value, 'max_clients', _('Most clients per report'));
		o.datatype = 'and(uinteger,range(1,20000))';
		o.placeholder = '10000';

		o = s.option(form.Flag, 'hostapd', _('Ask hostapd'), _('Read hostapd\'s station lists to fill in "associated".'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'hostapd_dir', _('hostapd control sockets'));
		o.placeholder = '/var/run/hostapd';
		o.depends('hostapd', '1');

		o = s.option(form.Value, 'ca_file', _('CA bundle'), _('For https:// URLs; empty: the system bundle.'));
		o.datatype = 'file';

		o = s.option(form.ListValue, 'log_level', _('Log level'));
		['error', 'warn', 'info', 'debug', 'trace'].forEach(function(l) { o.value(l); });
		o.default = 'info';

		writeOnly(s, 'pseudonymize_key', _('Pseudonym key'), _('Replaces each client MAC in the reports by a keyed pseudonym. Never shown; leave empty to keep the one set.'));

		o = s.option(form.ListValue, 'pseudonymize_rotate', _('New pseudonyms'));
		o.value('never', _('never'));
		o.value('daily', _('every UTC day'));
		o.default = 'never';
		o.validate = function(section_id, value) {
			if (value == 'daily' && !uci.get('presenced', section_id, 'pseudonymize_key') &&
			    !this.section.formvalue(section_id, 'pseudonymize_key'))
				return _('Daily pseudonyms need a pseudonym key');
			return true;
		};

		o = s.option(form.ListValue, 'randomized_macs', _('Randomized MACs'));
		o.value('keep', _('keep'));
		o.value('drop', _('drop (count as randomized)'));
		o.default = 'keep';

		o = s.option(form.Value, 'min_signal', _('Weakest signal (dBm)'), _('Probe requests weaker than this are left out; empty: every signal counts.'));
		o.datatype = 'and(integer,range(-128,0))';

		o = s.option(form.Value, 'spool_bytes', _('Spool (bytes)'), _('Keep reports the server did not take, up to this many bytes, and send them again; empty: drop them.'));
		o.datatype = 'and(uinteger,range(1024,67108864))';

		return m.render().then(L.bind(function(formNode) {
			// Under the page's title and description, above the settings.
			var descr = formNode.querySelector('.cbi-map-descr');
			if (descr)
				descr.parentNode.insertBefore(status, descr.nextSibling);
			else
				formNode.insertBefore(status, formNode.firstChild);
			poll.add(L.bind(this.pollStatus, this, status), POLL_SECONDS);
			return formNode;
		}, this));
	}
});
