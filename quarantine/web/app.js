/*
 * quarantine/web/app.js - the quarantine dashboard: login, the mailbox list,
 * one message, settings (digest, allow/block lists), and for admins the
 * message trace and a chart of messages per day.
 *
 * Plain JavaScript, no framework, no build step. The page (index.html) holds
 * every view; this file shows one at a time, routed by the URL fragment
 * (#/list, #/message/ID/RCPT, #/settings, #/trace, #/stats), and talks to
 * the JSON API of quarantine/API.md with fetch. Message data is hostile: it
 * only ever reaches the page through textContent or data-* / title
 * attributes, never as HTML. Every POST/PUT carries X-CSRF-Token.
 */
(function () {
    'use strict';

    var PER_PAGE = 50;
    var SVG_NS = 'http://www.w3.org/2000/svg';
    var CLASS_ORDER = ['clean', 'spam', 'virus', 'banned', 'bad-header', 'oversized'];
    var WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday',
                    'Saturday'];

    var me = null;              /* /api/me or the login reply */
    var list = {page: 1, total: 0, rows: [], selected: {}};
    var trace = {page: 1, total: 0};
    var current = null;         /* the message on show: {id, rcpt, ...} */
    var noticeTimer = null;
    var retryTimer = null;

    function $(id) {
        return document.getElementById(id);
    }

    /* el - a new element TAG with text TEXT (textContent, never HTML) and
     * attributes ATTRS (only ever ids, classes, data-* and our own URLs). */
    function el(tag, text, attrs) {
        var node = document.createElement(tag);
        if (text !== undefined && text !== null)
            node.textContent = String(text);
        if (attrs)
            Object.keys(attrs).forEach(function (k) {
                node.setAttribute(k, attrs[k]);
            });
        return node;
    }

    function clear(node) {
        while (node.firstChild)
            node.removeChild(node.firstChild);
    }

    function pad2(n) {
        return (n < 10 ? '0' : '') + n;
    }

    /* fmtTime - ms since the epoch as "YYYY-MM-DD HH:MM" in local time. */
    function fmtTime(ms) {
        if (typeof ms !== 'number' || !isFinite(ms))
            return '';
        var d = new Date(ms);
        return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
            pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    }

    function fmtSize(n) {
        if (typeof n !== 'number' || !isFinite(n))
            return '';
        if (n < 1024)
            return n + ' B';
        if (n < 1024 * 1024)
            return (n / 1024).toFixed(1) + ' KB';
        return (n / 1024 / 1024).toFixed(1) + ' MB';
    }

    function fmtScore(s) {
        return typeof s === 'number' && isFinite(s) ? s.toFixed(2) : '';
    }

    function key(id, rcpt) {
        return id + '\n' + rcpt;
    }

    function messageHash(id, rcpt) {
        return '#/message/' + encodeURIComponent(id) + '/' + encodeURIComponent(rcpt);
    }

    /* --- notices and errors --- */

    function notice(text, kind) {
        var box = $('notice');
        if (noticeTimer)
            clearTimeout(noticeTimer);
        noticeTimer = null;
        if (!text) {
            box.hidden = true;
            return;
        }
        box.textContent = text;
        box.className = 'notice ' + (kind || 'info');
        box.hidden = false;
        if (kind !== 'error')
            noticeTimer = setTimeout(function () {
                box.hidden = true;
            }, 6000);
    }

    function ApiError(status, message, retryAfter) {
        this.status = status;
        this.message = message;
        this.retryAfter = retryAfter;
    }

    /* api - METHOD PATH with JSON BODY; resolves to the parsed reply. A 401
     * (other than a failed login) ends the session and shows the login form. */
    function api(method, path, body) {
        var headers = {'Accept': 'application/json'};
        var init = {method: method, credentials: 'same-origin', headers: headers,
                    cache: 'no-store'};
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        if (method !== 'GET' && me && me.csrf)
            headers['X-CSRF-Token'] = me.csrf;
        return fetch(path, init).then(function (resp) {
            return resp.text().then(function (text) {
                var doc = null;
                try {
                    doc = text ? JSON.parse(text) : null;
                } catch (e) {
                    doc = null;
                }
                if (resp.ok)
                    return doc;
                var msg = doc && typeof doc.error === 'string' ? doc.error
                                                               : 'HTTP ' + resp.status;
                var retry = parseInt(resp.headers.get('Retry-After') || '', 10);
                var err = new ApiError(resp.status, msg, isFinite(retry) ? retry : null);
                if (resp.status === 401 && path !== '/api/login')
                    sessionEnded();
                throw err;
            });
        }, function () {
            throw new ApiError(0, 'the server cannot be reached', null);
        });
    }

    /* failed - shows what went wrong with a request (nothing for a 401: the
     * login form says it). */
    function failed(err, statusNode) {
        if (!(err instanceof ApiError))
            err = new ApiError(0, String(err), null);
        if (err.status === 401)
            return;
        var text;
        if (err.status === 429)
            text = 'too many attempts, try again in ' + (err.retryAfter || 60) + ' s';
        else if (err.status === 404)
            text = 'not found (it may have been deleted)';
        else if (err.status === 403)
            text = err.message === 'csrf' ? 'the session is out of date; reload the page'
                                          : 'not allowed';
        else
            text = 'failed: ' + err.message;
        if (statusNode)
            statusNode.textContent = text;
        notice(text, 'error');
    }

    function sessionEnded() {
        var had = me !== null;
        me = null;
        showLogin(had ? 'Your session has ended; please log in again.' : '');
    }

    /* --- views and routing --- */

    var VIEWS = ['login', 'list', 'message', 'settings', 'trace', 'stats'];

    function showView(name) {
        VIEWS.forEach(function (v) {
            $('view-' + v).hidden = v !== name;
        });
        $('topbar').hidden = name === 'login';
        ['list', 'settings', 'trace', 'stats'].forEach(function (v) {
            $('nav-' + v).classList.toggle('active', v === name ||
                                           (v === 'list' && name === 'message'));
        });
        document.body.setAttribute('data-view', name);
    }

    function isAdmin() {
        return me && (me.role === 'admin' || me.role === 'domain');
    }

    function route() {
        if (!$('notice').classList.contains('ok'))
            notice(''); /* an error belongs to the view it happened in */
        if (!me) {
            showLogin('');
            return;
        }
        var parts = (location.hash || '').replace(/^#\/?/, '').split('/');
        var name = parts[0] || 'list';
        if (name === 'message' && parts.length >= 3) {
            var id, rcpt;
            try {
                id = decodeURIComponent(parts[1]);
                rcpt = decodeURIComponent(parts.slice(2).join('/'));
            } catch (e) {
                location.hash = '#/list';
                return;
            }
            showView('message');
            loadMessage(id, rcpt);
        } else if (name === 'settings') {
            showView('settings');
            loadSettings();
        } else if ((name === 'trace' || name === 'stats') && isAdmin()) {
            showView(name);
            if (name === 'trace')
                loadTrace();
            else
                loadStats();
        } else {
            if (name !== 'list' && location.hash !== '#/list') {
                location.hash = '#/list';
                return;
            }
            showView('list');
            loadList();
        }
    }

    function signedIn(doc) {
        me = doc;
        document.body.setAttribute('data-role', String(me.role));
        $('who').textContent = me.login + (me.role !== 'user' ? ' (' + me.role + ')' : '');
        Array.prototype.forEach.call(document.querySelectorAll('.admin-only'), function (n) {
            n.hidden = !isAdmin();
        });
        route();
    }

    /* --- login, logout --- */

    function showLogin(message) {
        notice('');
        showView('login');
        var errNode = $('login-error');
        errNode.textContent = message || '';
        errNode.hidden = !message;
        $('login-password').value = '';
        $('login-user').focus();
    }

    function loginThrottled(seconds) {
        var left = Math.max(1, Math.min(seconds || 60, 3600));
        var errNode = $('login-error');
        var button = $('login-submit');
        if (retryTimer)
            clearInterval(retryTimer);
        function tick() {
            errNode.textContent = 'too many attempts, try again in ' + left + ' s';
            errNode.hidden = false;
            button.disabled = left > 0;
            if (left <= 0) {
                clearInterval(retryTimer);
                retryTimer = null;
                errNode.hidden = true;
            }
            left--;
        }
        tick();
        retryTimer = setInterval(tick, 1000);
    }

    function onLogin(ev) {
        ev.preventDefault();
        var login = $('login-user').value.trim().toLowerCase();
        var password = $('login-password').value;
        if (!login || !password)
            return;
        $('login-submit').disabled = true;
        $('login-error').textContent = '';
        $('login-error').hidden = true;
        api('POST', '/api/login', {login: login, password: password}).then(function (doc) {
            $('login-submit').disabled = false;
            $('login-password').value = '';
            if (!location.hash || location.hash === '#' || location.hash === '#/')
                history.replaceState(null, '', '#/list');
            signedIn(doc);
        }, function (err) {
            $('login-submit').disabled = false;
            $('login-password').value = '';
            if (err.status === 429) {
                loginThrottled(err.retryAfter);
                return;
            }
            var errNode = $('login-error');
            errNode.textContent = err.status === 401 ? 'Wrong address or password.'
                                                     : 'Login failed: ' + err.message;
            errNode.hidden = false;
        });
    }

    function onLogout() {
        api('POST', '/api/logout', {}).then(function () {}, function () {}).then(function () {
            me = null;
            list.selected = {};
            history.replaceState(null, '', '#/list');
            showLogin('You are logged out.');
        });
    }

    /* --- the mailbox list --- */

    /* dateMs - a date input's day as ms since the epoch: its first (or, with
     * END_OF_DAY, last) millisecond in local time, as the list shows times. */
    function dateMs(input, endOfDay) {
        var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.value);
        if (!m)
            return null;
        var day = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (endOfDay ? 1 : 0));
        var ms = day.getTime();
        return isFinite(ms) ? (endOfDay ? ms - 1 : ms) : null;
    }

    function listQuery() {
        var p = new URLSearchParams();
        var q = $('search-q').value.trim();
        if (q)
            p.set('q', q);
        if ($('filter-class').value)
            p.set('class', $('filter-class').value);
        ['min', 'max'].forEach(function (w) {
            var v = $('filter-' + w + '-score').value.trim();
            if (v !== '' && isFinite(Number(v)))
                p.set(w + '_score', String(Number(v)));
        });
        var since = dateMs($('filter-since'), false);
        var until = dateMs($('filter-until'), true);
        if (since !== null)
            p.set('since', String(since));
        if (until !== null)
            p.set('until', String(until));
        if ($('filter-released').value !== '')
            p.set('released', $('filter-released').value);
        p.set('page', String(list.page));
        p.set('per_page', String(PER_PAGE));
        return p.toString();
    }

    function loadList() {
        $('list-status').textContent = 'loading...';
        return api('GET', '/api/messages?' + listQuery()).then(function (doc) {
            list.total = typeof doc.total === 'number' ? doc.total : 0;
            list.rows = Array.isArray(doc.messages) ? doc.messages : [];
            var lastPage = Math.max(1, Math.ceil(list.total / PER_PAGE));
            if (list.page > lastPage && list.total > 0) {
                list.page = lastPage;
                return loadList();
            }
            $('list-status').textContent = '';
            renderList();
        }, function (err) {
            $('list-status').textContent = '';
            failed(err, $('list-status'));
        });
    }

    function releasedText(row) {
        return typeof row.released_ms === 'number' ? 'released ' + fmtTime(row.released_ms)
                                                   : '';
    }

    function renderRow(row) {
        var k = key(row.id, row.rcpt);
        var tr = el('tr', null, {'data-testid': 'msg-row'});
        tr.dataset.id = row.id;
        tr.dataset.rcpt = row.rcpt;
        if (typeof row.released_ms === 'number')
            tr.classList.add('released');

        var check = el('input', null, {type: 'checkbox', 'class': 'row-select',
                                       'data-testid': 'row-select'});
        check.setAttribute('aria-label', 'select');
        check.checked = !!list.selected[k];
        check.addEventListener('change', function () {
            if (check.checked)
                list.selected[k] = {id: row.id, rcpt: row.rcpt};
            else
                delete list.selected[k];
            updateSelection();
        });
        var td = el('td', null, {'class': 'check'});
        td.appendChild(check);
        tr.appendChild(td);

        tr.appendChild(el('td', fmtTime(row.time_ms), {'class': 'time'}));
        tr.appendChild(el('td', row.sender || '<>', {'class': 'sender',
                                                     'data-testid': 'row-sender'}));
        tr.appendChild(el('td', row.rcpt, {'class': 'rcpt col-rcpt'}));
        var subj = el('td', null, {'class': 'subject'});
        var link = el('a', row.subject || '(no subject)', {'class': 'row-open',
                                                           'data-testid': 'row-open'});
        link.setAttribute('href', messageHash(row.id, row.rcpt));
        link.title = row.reason || '';
        subj.appendChild(link);
        tr.appendChild(subj);
        var cls = el('td', null, {'class': 'class'});
        cls.appendChild(el('span', row.classification, {'class': 'badge'}));
        tr.appendChild(cls);
        tr.appendChild(el('td', fmtScore(row.score), {'class': 'num'}));
        tr.appendChild(el('td', fmtSize(row.size), {'class': 'num'}));

        var act = el('td', null, {'class': 'rowact'});
        if (typeof row.released_ms === 'number') {
            act.appendChild(el('span', releasedText(row), {'class': 'muted',
                                                           'data-testid': 'row-released'}));
        } else {
            var rel = el('button', 'Release', {type: 'button', 'class': 'row-release',
                                               'data-testid': 'row-release'});
            rel.addEventListener('click', function () {
                rel.disabled = true;
                release([{id: row.id, rcpt: row.rcpt}], false, false).then(loadList);
            });
            act.appendChild(rel);
        }
        tr.appendChild(act);
        return tr;
    }

    function renderList() {
        var body = $('msg-rows');
        clear(body);
        list.rows.forEach(function (row) {
            body.appendChild(renderRow(row));
        });
        $('list-empty').hidden = list.rows.length > 0;
        var first = list.total === 0 ? 0 : (list.page - 1) * PER_PAGE + 1;
        var last = Math.min(list.total, (list.page - 1) * PER_PAGE + list.rows.length);
        $('page-info').textContent = first + '\u2013' + last + ' of ' + list.total;
        $('page-prev').disabled = list.page <= 1;
        $('page-next').disabled = list.page * PER_PAGE >= list.total;
        updateSelection();
    }

    function selectedItems() {
        return Object.keys(list.selected).map(function (k) {
            return list.selected[k];
        });
    }

    function updateSelection() {
        var n = selectedItems().length;
        ['bulk-release', 'bulk-report', 'bulk-delete'].forEach(function (id) {
            $(id).disabled = n === 0;
        });
        disarm($('bulk-delete'));
        $('selected-count').textContent = n ? n + ' selected' : '';
        var boxes = document.querySelectorAll('#msg-rows .row-select');
        var all = boxes.length > 0;
        Array.prototype.forEach.call(boxes, function (b) {
            all = all && b.checked;
        });
        $('select-all').checked = all;
    }

    function onSelectAll() {
        var on = $('select-all').checked;
        list.rows.forEach(function (row) {
            var k = key(row.id, row.rcpt);
            if (on)
                list.selected[k] = {id: row.id, rcpt: row.rcpt};
            else
                delete list.selected[k];
        });
        Array.prototype.forEach.call(document.querySelectorAll('#msg-rows .row-select'),
                                     function (b) {
                                         b.checked = on;
                                     });
        updateSelection();
    }

    /* armed - a destructive button asks for a second click within 5 s. */
    function armed(button) {
        if (button.dataset.armed === '1') {
            disarm(button);
            return true;
        }
        button.dataset.armed = '1';
        button.dataset.label = button.textContent;
        button.textContent = 'Click again to delete';
        button.classList.add('armed');
        button.armTimer = setTimeout(function () {
            disarm(button);
        }, 5000);
        return false;
    }

    function disarm(button) {
        if (button.dataset.armed !== '1')
            return;
        clearTimeout(button.armTimer);
        button.dataset.armed = '';
        button.textContent = button.dataset.label;
        button.classList.remove('armed');
    }

    function release(items, allowSender, learnHam) {
        return api('POST', '/api/messages/release',
                   {items: items, allow_sender: allowSender, learn_ham: learnHam})
            .then(function (doc) {
                var errors = Array.isArray(doc.errors) ? doc.errors : [];
                var text = 'Released ' + doc.released + ' message' +
                    (doc.released === 1 ? '' : 's');
                if (errors.length)
                    text += '; ' + errors.length + ' failed (' + errors.map(function (e) {
                        return e.error;
                    }).slice(0, 3).join(', ') + ')';
                notice(text, errors.length ? 'error' : 'ok');
                return doc;
            }, function (err) {
                failed(err);
                return null;
            });
    }

    function bulk(action) {
        var items = selectedItems();
        if (!items.length)
            return;
        var done;
        if (action === 'release') {
            done = release(items, false, false);
        } else if (action === 'report') {
            done = api('POST', '/api/messages/report', {items: items}).then(function (doc) {
                notice('Reported ' + doc.reported + ' as spam', 'ok');
            }, failed);
        } else {
            if (!armed($('bulk-delete')))
                return;
            done = api('POST', '/api/messages/delete', {items: items}).then(function (doc) {
                notice('Deleted ' + doc.deleted + ' message' + (doc.deleted === 1 ? '' : 's'),
                       'ok');
            }, failed);
        }
        done.then(function () {
            list.selected = {};
            loadList();
        });
    }

    function onSearch(ev) {
        ev.preventDefault();
        list.page = 1;
        list.selected = {};
        loadList();
    }

    function onReset() {
        $('search-form').reset();
        list.page = 1;
        list.selected = {};
        loadList();
    }

    /* --- one message --- */

    /* trailVerdicts - the verdicts map of a trail, however the server wraps
     * it: the envelope, a row {json: "..."}, or its JSON text. */
    function trailVerdicts(trail) {
        for (var depth = 0; trail && depth < 3; depth++) {
            if (typeof trail === 'string') {
                try {
                    trail = JSON.parse(trail);
                } catch (e) {
                    return null;
                }
            } else if (trail.verdicts && typeof trail.verdicts === 'object') {
                return trail.verdicts;
            } else if (trail.json !== undefined) {
                trail = trail.json;
            } else {
                return null;
            }
        }
        return null;
    }

    function renderTrail(trail) {
        var body = $('msg-trail-rows');
        clear(body);
        var verdicts = trailVerdicts(trail);
        var stages = verdicts ? Object.keys(verdicts).slice(0, 64) : [];
        stages.forEach(function (stage) {
            var v = verdicts[stage] || {};
            var symbols = v.symbols && typeof v.symbols === 'object' ? v.symbols : {};
            var total = 0;
            var tr = el('tr', null, {'data-testid': 'trail-row'});
            tr.appendChild(el('td', stage, {'class': 'stage'}));
            var scoreCell = el('td', '', {'class': 'num'});
            tr.appendChild(scoreCell);
            var symCell = el('td');
            Object.keys(symbols).slice(0, 512).forEach(function (name) {
                var s = symbols[name] || {};
                var score = typeof s.score === 'number' ? s.score : 0;
                total += score;
                var chip = el('span', name + ' ' + score.toFixed(2), {'class': 'symbol'});
                if (s.info)
                    chip.title = String(s.info);
                if (score > 0)
                    chip.classList.add('pos');
                else if (score < 0)
                    chip.classList.add('neg');
                symCell.appendChild(chip);
            });
            if (!symCell.firstChild)
                symCell.appendChild(el('span', 'no symbols', {'class': 'muted'}));
            scoreCell.textContent = total.toFixed(2);
            tr.appendChild(symCell);
            body.appendChild(tr);
        });
        $('msg-trail').hidden = stages.length === 0;
        $('msg-trail-none').hidden = stages.length > 0;
    }

    function metaRow(dl, label, value) {
        if (value === undefined || value === null || value === '')
            return;
        dl.appendChild(el('dt', label));
        dl.appendChild(el('dd', value, {'data-testid': 'meta-' + label.toLowerCase()}));
    }

    function renderMessage(doc) {
        current = doc;
        $('msg-subject').textContent = doc.subject || '(no subject)';
        var dl = $('msg-meta');
        clear(dl);
        metaRow(dl, 'Sender', doc.sender || '<>');
        metaRow(dl, 'Recipient', doc.rcpt);
        metaRow(dl, 'Received', fmtTime(doc.time_ms));
        metaRow(dl, 'Class', doc.classification);
        metaRow(dl, 'Score', fmtScore(doc.score));
        metaRow(dl, 'Reason', doc.reason);
        metaRow(dl, 'Size', fmtSize(doc.size));
        metaRow(dl, 'Queue id', doc.id);
        metaRow(dl, 'Released', releasedText(doc));

        var hrows = $('msg-header-rows');
        clear(hrows);
        (Array.isArray(doc.headers) ? doc.headers : []).slice(0, 200).forEach(function (h) {
            if (!Array.isArray(h))
                return;
            var tr = el('tr');
            tr.appendChild(el('th', h[0]));
            tr.appendChild(el('td', h[1]));
            hrows.appendChild(tr);
        });

        renderTrail(doc.trail);
        $('msg-text').textContent = typeof doc.text === 'string' ? doc.text : '';

        var ul = $('msg-attachments');
        clear(ul);
        var atts = Array.isArray(doc.attachments) ? doc.attachments : [];
        atts.slice(0, 1000).forEach(function (a) {
            var li = el('li', null, {'data-testid': 'attachment'});
            li.appendChild(el('span', a.name || '(unnamed)', {'class': 'attname'}));
            li.appendChild(el('span', (a.type || '') + ', ' + fmtSize(a.size), {'class': 'muted'}));
            ul.appendChild(li);
        });
        if (!atts.length)
            ul.appendChild(el('li', 'none', {'class': 'muted'}));

        $('msg-raw').setAttribute('href', '/api/messages/' + encodeURIComponent(doc.id) +
                                  '/raw?rcpt=' + encodeURIComponent(doc.rcpt));
        $('msg-raw').setAttribute('download', String(doc.id).replace(/[^A-Za-z0-9]/g, '') +
                                  '.eml');
        var released = typeof doc.released_ms === 'number';
        $('msg-release').disabled = released;
        $('release-allow-sender').checked = false;
        $('release-learn-ham').checked = false;
        disarm($('msg-delete'));
    }

    function loadMessage(id, rcpt) {
        current = null;
        $('msg-status').textContent = 'loading...';
        $('msg-subject').textContent = '';
        clear($('msg-meta'));
        clear($('msg-header-rows'));
        clear($('msg-trail-rows'));
        clear($('msg-attachments'));
        $('msg-text').textContent = '';
        return api('GET', '/api/messages/' + encodeURIComponent(id) + '?rcpt=' +
            encodeURIComponent(rcpt)).then(function (doc) {
                $('msg-status').textContent = '';
                renderMessage(doc);
            }, function (err) {
                $('msg-status').textContent = '';
                failed(err, $('msg-status'));
            });
    }

    function onMessageRelease() {
        if (!current)
            return;
        var button = $('msg-release');
        button.disabled = true;
        release([{id: current.id, rcpt: current.rcpt}], $('release-allow-sender').checked,
                $('release-learn-ham').checked).then(function (doc) {
                    if (doc && doc.released === 1) {
                        loadMessage(current.id, current.rcpt).then(function () {
                            $('msg-status').textContent = 'Released.';
                        });
                    } else {
                        button.disabled = false;
                    }
                });
    }

    function onMessageReport() {
        if (!current)
            return;
        api('POST', '/api/messages/report', {items: [{id: current.id, rcpt: current.rcpt}]})
            .then(function () {
                $('msg-status').textContent = 'Reported as spam.';
            }, function (err) {
                failed(err, $('msg-status'));
            });
    }

    function onMessageDelete() {
        if (!current || !armed($('msg-delete')))
            return;
        api('POST', '/api/messages/delete', {items: [{id: current.id, rcpt: current.rcpt}]})
            .then(function () {
                notice('Deleted.', 'ok');
                location.hash = '#/list';
            }, function (err) {
                failed(err, $('msg-status'));
            });
    }

    /* --- settings: digest and lists --- */

    function showDigestFields() {
        var mode = $('digest-mode').value;
        $('digest-hour-label').hidden = mode === 'off';
        $('digest-wday-label').hidden = mode !== 'weekly';
    }

    function loadSettings() {
        $('digest-status').textContent = '';
        $('lists-status').textContent = '';
        api('GET', '/api/me').then(function (doc) {
            me = doc;
            var mode = ['off', 'daily', 'weekly'].indexOf(doc.digest) >= 0 ? doc.digest : 'off';
            $('digest-mode').value = mode;
            $('digest-hour').value = String(doc.digest_hour >= 0 && doc.digest_hour <= 23
                                            ? doc.digest_hour : 7);
            $('digest-wday').value = String(doc.digest_wday >= 0 && doc.digest_wday <= 6
                                            ? doc.digest_wday : 1);
            showDigestFields();
        }, function (err) {
            failed(err, $('digest-status'));
        });
        loadLists();
    }

    function onDigestSave(ev) {
        ev.preventDefault();
        var body = {digest: $('digest-mode').value,
                    digest_hour: parseInt($('digest-hour').value, 10),
                    digest_wday: parseInt($('digest-wday').value, 10)};
        $('digest-status').textContent = 'saving...';
        api('PUT', '/api/digest', body).then(function () {
            var text = body.digest === 'off' ? 'Saved: no digest.'
                : 'Saved: ' + (body.digest === 'weekly' ? 'every ' + WEEKDAYS[body.digest_wday]
                                                        : 'every day') +
                  ' at ' + pad2(body.digest_hour) + ':00 UTC.';
            $('digest-status').textContent = text;
        }, function (err) {
            $('digest-status').textContent = '';
            failed(err, $('digest-status'));
        });
    }

    function renderEntries(kind, entries) {
        var ul = $(kind + '-list');
        clear(ul);
        entries.slice(0, 10000).forEach(function (address) {
            var li = el('li', null, {'data-testid': kind + '-entry'});
            li.dataset.address = String(address);
            li.appendChild(el('span', address, {'class': 'address'}));
            var rm = el('button', 'Remove', {type: 'button', 'class': 'link',
                                             'data-testid': 'list-remove'});
            rm.addEventListener('click', function () {
                changeList(kind, String(address), false);
            });
            li.appendChild(rm);
            ul.appendChild(li);
        });
        if (!entries.length)
            ul.appendChild(el('li', 'empty', {'class': 'muted'}));
    }

    function loadLists() {
        api('GET', '/api/lists').then(function (doc) {
            renderEntries('allow', Array.isArray(doc.allow) ? doc.allow : []);
            renderEntries('block', Array.isArray(doc.block) ? doc.block : []);
        }, function (err) {
            failed(err, $('lists-status'));
        });
    }

    /* The server checks too; this only spares a round trip for typos. */
    function validAddress(a) {
        return a.length > 0 && a.length <= 254 && !/[\s\x00-\x1f\x7f]/.test(a) &&
            /^[^@]*@?[^@]+$/.test(a);
    }

    function changeList(kind, address, add) {
        $('lists-status').textContent = '';
        return api('POST', '/api/lists', {kind: kind, address: address, add: add})
            .then(function () {
                $('lists-status').textContent = (add ? 'Added ' : 'Removed ') + address + '.';
                loadLists();
                return true;
            }, function (err) {
                failed(err, $('lists-status'));
                return false;
            });
    }

    function onListAdd(ev) {
        ev.preventDefault();
        var kind = ev.currentTarget.dataset.kind;
        var input = $(kind + '-input');
        var address = input.value.trim().toLowerCase();
        if (!validAddress(address)) {
            $('lists-status').textContent = 'Enter an address or a domain, without spaces.';
            return;
        }
        changeList(kind, address, true).then(function (ok) {
            if (ok)
                input.value = '';
        });
    }

    /* --- admin: trace --- */

    function loadTrace() {
        var p = new URLSearchParams();
        ['id', 'sender', 'rcpt'].forEach(function (f) {
            var v = $('trace-' + f).value.trim();
            if (v)
                p.set(f, v);
        });
        var since = dateMs($('trace-since'), false);
        var until = dateMs($('trace-until'), true);
        if (since !== null)
            p.set('since', String(since));
        if (until !== null)
            p.set('until', String(until));
        p.set('page', String(trace.page));
        p.set('per_page', String(PER_PAGE));
        api('GET', '/api/trace?' + p.toString()).then(function (doc) {
            var rows = Array.isArray(doc.rows) ? doc.rows : [];
            trace.total = typeof doc.total === 'number' ? doc.total : rows.length;
            var body = $('trace-rows');
            clear(body);
            rows.forEach(function (r) {
                var tr = el('tr', null, {'data-testid': 'trace-row'});
                tr.appendChild(el('td', fmtTime(r.time_ms), {'class': 'time'}));
                var idCell = el('td');
                var idLink = el('button', r.id, {type: 'button', 'class': 'link mono'});
                idLink.title = 'show every recipient of this message';
                idLink.addEventListener('click', function () {
                    $('trace-id').value = String(r.id);
                    trace.page = 1;
                    loadTrace();
                });
                idCell.appendChild(idLink);
                tr.appendChild(idCell);
                tr.appendChild(el('td', r.sender || '<>'));
                tr.appendChild(el('td', r.rcpt));
                tr.appendChild(el('td', r.action));
                tr.appendChild(el('td', r.classification));
                tr.appendChild(el('td', fmtScore(r.score), {'class': 'num'}));
                tr.appendChild(el('td', r.destination, {'class': 'dest'}));
                body.appendChild(tr);
            });
            $('trace-empty').hidden = rows.length > 0;
            var first = trace.total === 0 ? 0 : (trace.page - 1) * PER_PAGE + 1;
            $('trace-info').textContent = first + '\u2013' +
                ((trace.page - 1) * PER_PAGE + rows.length) + ' of ' + trace.total;
            $('trace-prev').disabled = trace.page <= 1;
            $('trace-next').disabled = trace.page * PER_PAGE >= trace.total;
        }, failed);
    }

    /* --- admin: statistics chart (inline SVG, built with DOM calls) --- */

    function svg(tag, attrs, text) {
        var node = document.createElementNS(SVG_NS, tag);
        Object.keys(attrs || {}).forEach(function (k) {
            node.setAttribute(k, String(attrs[k]));
        });
        if (text !== undefined)
            node.textContent = String(text);
        return node;
    }

    /* niceMax - the smallest 1, 2 or 5 times a power of ten at or above N. */
    function niceMax(n) {
        if (n <= 5)
            return 5;
        var p = Math.pow(10, Math.floor(Math.log(n) / Math.LN10));
        var steps = [1, 2, 5, 10];
        for (var i = 0; i < steps.length; i++)
            if (steps[i] * p >= n)
                return steps[i] * p;
        return 10 * p;
    }

    function classIndex(name, classes) {
        var i = CLASS_ORDER.indexOf(name);
        return i >= 0 ? i : CLASS_ORDER.length + classes.indexOf(name);
    }

    function drawChart(days) {
        var box = $('stats-chart');
        clear(box);
        var legend = $('stats-legend');
        clear(legend);
        days = days.slice(-366);
        var classes = [];
        days.forEach(function (d) {
            Object.keys(d.counts || {}).forEach(function (c) {
                if (classes.indexOf(c) < 0)
                    classes.push(c);
            });
        });
        classes.sort(function (a, b) {
            return classIndex(a, classes) - classIndex(b, classes) || (a < b ? -1 : 1);
        });
        var W = 860, H = 320, left = 48, right = 12, top = 12, bottom = 40;
        var plotW = W - left - right, plotH = H - top - bottom;
        var max = 0;
        days.forEach(function (d) {
            var sum = 0;
            classes.forEach(function (c) {
                sum += Number((d.counts || {})[c]) || 0;
            });
            max = Math.max(max, sum);
        });
        var yMax = niceMax(max);
        var root = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, width: '100%',
                               role: 'img', 'data-testid': 'stats-svg',
                               'aria-label': 'messages per day by classification'});
        root.appendChild(svg('title', {}, 'Messages per day by classification'));
        for (var g = 0; g <= 5; g++) {
            var y = top + plotH - plotH * g / 5;
            root.appendChild(svg('line', {x1: left, x2: W - right, y1: y, y2: y,
                                          'class': 'gridline'}));
            root.appendChild(svg('text', {x: left - 6, y: y + 4, 'text-anchor': 'end',
                                          'class': 'axis'}, Math.round(yMax * g / 5)));
        }
        var slot = days.length ? plotW / days.length : plotW;
        var barW = Math.max(1, Math.min(40, slot * 0.7));
        var labelEvery = Math.max(1, Math.ceil(days.length / 15));
        days.forEach(function (d, i) {
            var x = left + slot * i + (slot - barW) / 2;
            var base = top + plotH;
            var group = svg('g', {'data-day': String(d.day)});
            classes.forEach(function (c) {
                var n = Number((d.counts || {})[c]) || 0;
                if (n <= 0)
                    return;
                var h = plotH * n / yMax;
                base -= h;
                var rect = svg('rect', {x: x.toFixed(1), y: base.toFixed(1), width: barW.toFixed(1),
                                        height: h.toFixed(1),
                                        'class': 'bar c' + classIndex(c, classes) % 10,
                                        'data-testid': 'stats-bar', 'data-class': c,
                                        'data-count': n});
                rect.appendChild(svg('title', {}, d.day + ' ' + c + ': ' + n));
                group.appendChild(rect);
            });
            root.appendChild(group);
            if (i % labelEvery === 0)
                root.appendChild(svg('text', {x: (left + slot * i + slot / 2).toFixed(1),
                                              y: H - bottom + 16, 'text-anchor': 'middle',
                                              'class': 'axis'},
                                     String(d.day).slice(5)));
        });
        root.appendChild(svg('line', {x1: left, x2: W - right, y1: top + plotH, y2: top + plotH,
                                      'class': 'baseline'}));
        box.appendChild(root);
        classes.forEach(function (c) {
            var li = el('li', null, {'data-testid': 'legend-entry'});
            var sw = svg('svg', {width: 12, height: 12, 'aria-hidden': 'true'});
            sw.appendChild(svg('rect', {width: 12, height: 12,
                                        'class': 'bar c' + classIndex(c, classes) % 10}));
            li.appendChild(sw);
            var total = 0;
            days.forEach(function (d) {
                total += Number((d.counts || {})[c]) || 0;
            });
            li.appendChild(el('span', c + ' (' + total + ')'));
            legend.appendChild(li);
        });
        if (!days.length)
            box.appendChild(el('p', 'No messages in this period.', {'class': 'empty'}));
    }

    function loadStats() {
        api('GET', '/api/stats?days=' + encodeURIComponent($('stats-days').value))
            .then(function (doc) {
                drawChart(Array.isArray(doc.days) ? doc.days : []);
            }, failed);
    }

    /* --- start --- */

    /* pager - PREFIX-prev / PREFIX-next step STATE.page and call LOAD. */
    function pager(prefix, state, load) {
        $(prefix + '-prev').addEventListener('click', function () {
            if (state.page > 1) {
                state.page--;
                load();
            }
        });
        $(prefix + '-next').addEventListener('click', function () {
            if (state.page * PER_PAGE < state.total) {
                state.page++;
                load();
            }
        });
    }

    function wire() {
        for (var h = 0; h < 24; h++)
            $('digest-hour').appendChild(el('option', pad2(h) + ':00', {value: String(h)}));
        $('login-form').addEventListener('submit', onLogin);
        $('logout').addEventListener('click', onLogout);
        $('search-form').addEventListener('submit', onSearch);
        $('search-reset').addEventListener('click', onReset);
        ['filter-class', 'filter-released'].forEach(function (id) {
            $(id).addEventListener('change', onSearch);
        });
        $('select-all').addEventListener('change', onSelectAll);
        $('bulk-release').addEventListener('click', function () {
            bulk('release');
        });
        $('bulk-report').addEventListener('click', function () {
            bulk('report');
        });
        $('bulk-delete').addEventListener('click', function () {
            bulk('delete');
        });
        pager('page', list, loadList);
        $('msg-release').addEventListener('click', onMessageRelease);
        $('msg-report').addEventListener('click', onMessageReport);
        $('msg-delete').addEventListener('click', onMessageDelete);
        $('digest-mode').addEventListener('change', showDigestFields);
        $('digest-form').addEventListener('submit', onDigestSave);
        $('allow-form').addEventListener('submit', onListAdd);
        $('block-form').addEventListener('submit', onListAdd);
        $('trace-form').addEventListener('submit', function (ev) {
            ev.preventDefault();
            trace.page = 1;
            loadTrace();
        });
        pager('trace', trace, loadTrace);
        $('stats-days').addEventListener('change', loadStats);
        window.addEventListener('hashchange', route);

        api('GET', '/api/me').then(signedIn, function (err) {
            if (err.status !== 401)
                showLogin('The server cannot be reached: ' + err.message);
        });
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', wire);
    else
        wire();
}());
