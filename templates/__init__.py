"""SES templates bundled with the package: <name>/<version>/{subject.txt,body.html,body.txt}."""
