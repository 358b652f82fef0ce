"""The fleet report goes out by mail where the user asks: diagnose.yml against a real SMTP
conversation on loopback (a minimal SMTP sink written here: no mail server is installed)."""
import email
import email.policy
import json
import os
import socketserver
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


class SMTPSink(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for one message: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        self.reply('220 sink ESMTP')
        while True:
            line = self.rfile.readline().decode().strip()
            verb = line.split(' ')[0].upper()
            if verb == 'EHLO':
                self.reply('250 sink')
            elif verb in ('HELO', 'MAIL', 'RCPT', 'RSET', 'NOOP'):
                self.server.envelope.append(line)
                self.reply('250 ok')
            elif verb == 'DATA':
                self.reply('354 go on')
                data = []
                while True:
                    part = self.rfile.readline()
                    if part in (b'.\r\n', b'.\n', b''):
                        break
                    data.append(part)
                self.server.messages.append(b''.join(data))
                self.reply('250 queued')
            elif verb == 'QUIT' or not line:
                self.reply('221 bye')
                return
            else:
                self.reply('502 not here')


def test_diagnose_mails_the_report_with_the_page_attached(tmp_path):
    server = socketserver.TCPServer(('127.0.0.1', 0), SMTPSink)
    server.messages, server.envelope = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        report = tmp_path / 'fleet.json'
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
        proc = subprocess.run(
            [os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', 'headroom_report_path=%s' % report,
             '-e', 'headroom_mail_to=ops@example.invalid', '-e', 'headroom_mail_port=%d' % server.server_address[1],
             '-e', 'headroom_mail_secure=never'],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert len(server.messages) == 1
    assert any(line.upper().startswith('RCPT TO:') and 'ops@example.invalid' in line for line in server.envelope), \
        server.envelope
    message = email.message_from_bytes(server.messages[0], policy=email.policy.default)
    data = json.loads(report.read_text())
    assert message['Subject'].startswith('headroom: %s' % data['fleet']['worst'])
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert set(parts) == {'fleet.html', 'fleet.json'}
    assert json.loads(parts['fleet.json'].get_payload(decode=True)) == data
    assert b'<html' in parts['fleet.html'].get_payload(decode=True)
    body = [part for part in message.walk() if part.get_content_type() == 'text/plain'][0]
    assert 'localhost' in body.get_content()
