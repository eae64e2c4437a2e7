"""Regular expressions for the HIPAA Safe Harbor categories that have a shape: dates, ages over 89,
phone and fax numbers, emails, record and other ID numbers, street addresses, ZIP codes, URLs.

Each is a Presidio ``Pattern`` run by a ``PatternRecognizer`` (kbqa.deid.engine). They use the
``regex`` module's syntax (Presidio's), which allows variable-length look-behind: a context word
("MRN", "age", "phone") is matched before the value but only the value is replaced.
"""

from __future__ import annotations

_MONTH = (r"(?:(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?|(?:May|MAY)\.?)")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_WEEKDAY = r"(?:(?i:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?i:day)?\.?,?\s+)?"
_SEP = r"[/.\-]"

# (name, regex, score): dates more specific than the year
DATE = [
    ("month day year", rf"\b{_WEEKDAY}{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR}|(?!\s*[-:]?\s*\d))\b", 0.85),
    ("day month year", rf"\b{_WEEKDAY}{_DAY}(?:\s+of)?[\s\-]+{_MONTH}(?:[\s\-,]+{_YEAR}|(?!\w))", 0.85),
    ("day-mon-yy", rf"\b{_DAY}-{_MONTH}-\d\d\b", 0.85),
    ("month year", rf"\b{_MONTH}\s*,?\s+(?:of\s+)?{_YEAR}\b", 0.7),
    ("numeric m/d/y", rf"(?<![\d/.\-])(?:0?[1-9]|[12]\d|3[01]){_SEP}(?:0?[1-9]|[12]\d|3[01]){_SEP}(?:\d{{4}}|\d\d)(?![\d/\-]|\.\d)", 0.8),
    ("numeric y/m/d", rf"(?<![\d/.\-])(?:1[89]|20)\d\d{_SEP}(?:0?[1-9]|1[0-2]){_SEP}(?:0?[1-9]|[12]\d|3[01])(?![\d/\-]|\.\d)", 0.85),
    ("compact yyyymmdd", r"(?<=(?i:date|dob|d\.o\.b\.|born|on|admitted|discharged|seen)\W{1,3})(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b", 0.8),
    ("m/d after a date word", r"(?<=(?i:\b(?:on|since|from|until|till|by|dated?|dob|admitted|discharged|seen|visit(?:ed)?|born))\W{1,3})(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?![\d/])", 0.7),
    ("iso date-time", r"\b(?:19|20)\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-][0-2]\d:?[0-5]\d)?", 0.9),
]

_OLD = r"(?:9\d|1[01]\d)"  # 90..119
_WORD_OLD = (r"(?i:ninety(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine))?|"
             r"(?:one\s+)?hundred(?:\s+and)?(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine|ten))?)")
AGE = [
    ("N years old", rf"(?<![\d.,])(?:{_OLD}|{_WORD_OLD})(?=[\s\-]*(?i:years?|yrs?|y\.?\s?o\b\.?|y/o|yo\b|year[\s\-]old|yr[\s\-]old|-year))", 0.9),
    ("age N", rf"(?<=\b(?i:age[sd]?|aged|age:|ages)\s*(?:of\s+|is\s+|was\s+|=\s*)?){_OLD}(?!\d|\.\d)", 0.9),
    ("N-yo M/F", rf"(?<![\d.,]){_OLD}(?=\s?(?:yo)?\s?[MF]\b)", 0.6),
    ("in her 90s", rf"(?<=\b(?i:in\s+(?:his|her|their|the|my)\s+(?:early\s+|mid\s+|late\s+)?))(?:90|100)'?s\b", 0.8),
    ("N-year-old", rf"(?<![\d.,]){_OLD}(?=-(?i:year|yr|month))", 0.9),
]

PHONE = [
    ("nanp", r"(?<![\w\-+])(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}(?:\s*(?i:x|ext\.?|extension)\s*\d{1,6})?(?![\w\-])", 0.8),
    ("international", r"(?<![\w\-])\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){2,4}(?![\w\-])", 0.75),
    ("ten digits after a phone word",
     r"(?<=(?i:\b(?:phone|ph|tel|telephone|fax|facsimile|call|cell|mobile|pager|beeper|contact|number|text|whatsapp|reach))(?:\W+[A-Za-z]{1,4}){0,3}\W{1,6})\d{7,12}\b", 0.8),
    ("seven digits", r"(?<![\w\-.])\d{3}-\d{4}(?![\w\-])", 0.45),
]

EMAIL = [("email", r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,24}\b", 0.95)]

_TLD = r"(?:com|org|net|edu|gov|mil|int|io|us|uk|ca|info|biz|co|me|health|care|clinic|hospital|app|dev|ly|tv|de|fr|au|in)"
URL = [
    ("scheme or www", r"(?i:\b(?:https?://|ftp://|www\.))[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", 0.9),
    ("bare domain", rf"(?<![@\w.\-])(?i:[a-z0-9](?:[a-z0-9\-]{{0,62}}[a-z0-9])?\.)+{_TLD}\b(?:/[^\s<>\"'()]*[^\s<>\"'().,;:!?])?", 0.6),
]

_ID_WORD = (
    r"(?i:\b(?:mrn|medical\s+record|record|chart|account|acct|patient\s+id|pt\s+id|member\s+id|subscriber\s+id|"
    r"insurance\s+id|id|identification|policy|group|licen[cs]e|lic|dea|npi|ssn|social\s+security|passport|"
    r"health\s+plan|beneficiary|medicare|medicaid|device|serial|vin|plate|certificate|case|claim|encounter|"
    r"visit|accession|specimen|order|prescription|rx|unit|hospital|file|reference|ref|confirmation|badge|"
    r"employee|member|mbi|hicn|driver'?s?\s+licen[cs]e|dl|tax\s+id|ein|itin|routing|iban|card))"
    r"\.?(?:\s*(?i:number|num|no|nbr|n°|#|id|code))?\.?\s*(?:[:#=]|(?i:is|was|of))?\s*(?:(?i:is|was|number)\s*)?[:#]?\s*"
)
ID = [
    ("value after an id word", rf"(?<={_ID_WORD})(?=[A-Za-z0-9\-]*\d[A-Za-z0-9\-]*\d[A-Za-z0-9\-]*\d)[A-Za-z0-9][A-Za-z0-9\-/]{{2,24}}[A-Za-z0-9]\b", 0.85),
    ("prefixed id", r"\b(?:MRN|MR|ACCT|ACC|PT|PID|MBR|INS|POL|LIC|DEA|NPI|SSN|ID|CASE|ENC|HAR|FIN)[\-#:]?\d{4,}[A-Z0-9]*(?:[\-/][A-Z0-9]+)*\b", 0.85),
    ("ssn shape", r"(?<![\d\-])\d{3}-\d{2}-\d{4}(?![\d\-])", 0.85),
    ("letters+digits code", r"\b(?=[A-Z]{1,4}[\-]?\d)[A-Z]{1,4}-?\d{5,12}\b", 0.6),
    ("long number", r"(?<![\w.,\-/])\d{7,20}(?![\w.,\-/]\d)", 0.5),
    ("grouped long number", r"(?<![\w.\-])\d{3,6}(?:[\- ]\d{3,6}){2,4}(?![\w\-])", 0.4),
]

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Wy|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Alley|Aly|Loop|Row|Path|Pike|Plaza|Plz|Crossing|Xing|"
    r"Crescent|Cres|Close|Mews|Walk|Run|Ridge|Rdg|Heights|Hts|Hollow|Hl|Hill|Hills|Park|Point|Pt|Port|Ports|Harbor|"
    r"Hbr|Landing|Lndg|Meadow|Meadows|Mdws|Mill|Mills|Center|Ctr|Commons|Cmns|Creek|Crk|Estates|Ests|Expressway|Expy|"
    r"Freeway|Fwy|Garden|Gardens|Gdns|Glen|Green|Grove|Grv|Isle|Junction|Jct|Key|Knoll|Knolls|Lake|Lakes|Manor|Mnr|"
    r"Mission|Motorway|Orchard|Oval|Pass|Passage|Pines|Plains|Prairie|Ramp|Ranch|Rapids|Rest|Route|Rte|Shore|Shores|"
    r"Spring|Springs|Spur|Station|Sta|Stravenue|Stra|Stream|Summit|Smt|Throughway|Trace|Track|Turnpike|Tpke|Union|"
    r"Valley|Vly|Via|Viaduct|View|Vista|Vis|Village|Vlg|Ville|Well|Wells|Bypass|Byp|Causeway|Cswy|Cove|Cv|Dale|Dam|"
    r"Divide|Extension|Ext|Falls|Ferry|Field|Fields|Flat|Flats|Ford|Forest|Forge|Fork|Forks|Fort|Ft|Gateway|Harbors|"
    r"Haven|Inlet|Island|Islands|Lock|Locks|Lodge|Mall|Mount|Mountain|Neck|Overpass|Radial|River|Shoal|Skyway|Square|"
    r"Squares|Underpass|Vl|Gtwy|Fall|Land|Wall|Tunnel|Bridge|Cliff|Cliffs|Mountains|Ways|Greens|Groves|Harbour|Bluff|Bluffs|Bottom|Branch|Brook|Brooks|Burg|Camp|Canyon|Cape|Club|Corner|Corners|"
    r"Course|Courts|Crest|Curve|Drives|Estate|Grounds|Light|Lights|Mews|Oaks|Pine|Plain|Points|Rue|Shoals|Trafficway)s?"
)
_UNIT = r"(?:,?\s+(?:(?i:apt|apartment|suite|ste|unit|room|rm|floor|fl|bldg|building)\b\.?|#)\s*#?\s*[A-Za-z0-9\-]{1,6})?"
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    r"OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|AA|AE|AP|MH|FM|PW)"
)
_STATE_NAMES = (
    r"(?:Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    r"Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|"
    r"Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|"
    r"Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|"
    r"Virginia|Washington|West Virginia|Wisconsin|Wyoming)"
)
_CAP = r"[A-Z][A-Za-z'\-]+"
ADDRESS = [
    ("street", rf"\b\d{{1,6}}[A-Za-z]?(?:\s+[NSEW]\.?|\s+(?:North|South|East|West))?(?:\s+(?:{_CAP}|\d{{1,3}}(?:st|nd|rd|th))){{1,4}}\s+{_SUFFIX}\b\.?{_UNIT}", 0.85),
    ("number and words before a city", rf"\b\d{{1,6}}[A-Za-z]?(?:\s+{_CAP}){{1,4}}{_UNIT}(?=,\s*{_CAP}(?:\s+{_CAP}){{0,2}},\s*(?:{_STATES}|{_STATE_NAMES})\b)", 0.8),
    ("number and words after an address word", rf"(?<=\b(?i:live|lives|living|lived|reside|resides|address|located|send\s+it|mail\s+it|moved)\s+(?:(?i:at|to|on|is|in)\s+)?:?\s*)\d{{1,6}}[A-Za-z]?(?:\s+{_CAP}){{1,4}}{_UNIT}", 0.75),
    ("unit", rf"(?<=\s)(?i:apt|apartment|suite|ste|unit)\.?\s*#?\s*\d[A-Za-z0-9\-]{{0,5}}\b", 0.6),
    ("po box", r"\b(?i:p\.?\s?o\.?\s*box|post\s+office\s+box)\s*#?\s*\d{1,7}\b", 0.85),
    ("military", r"\b(?:PSC|Unit|CMR)\s+\d{3,5},?\s+Box\s+\d{1,5}\b|\b(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+\b", 0.7),
    ("city, ST", rf"\b{_CAP}(?:\s+{_CAP}){{0,2}}(?=,\s*{_STATES}\b(?:\s+\d{{5}}|\s*$|[\s.,;)]))", 0.7),
    ("city, State", rf"\b{_CAP}(?:\s+{_CAP}){{0,2}}(?=,\s*{_STATE_NAMES}\b(?:\s+\d{{5}}))", 0.7),
    ("APO/FPO", r"\b(?:APO|FPO|DPO)\b", 0.6),
]
ZIP = [
    ("zip after a state", rf"(?<=\b(?:{_STATES}|{_STATE_NAMES}|APO|FPO|DPO)\.?,?\s+)\d{{5}}(?:-\d{{4}})?\b", 0.9),
    ("zip after a zip word", r"(?<=\b(?i:zip(?:\s*code)?|postal\s+code|zipcode|postcode)\W{1,4})\d{5}(?:-\d{4})?\b", 0.9),
    ("zip+4", r"(?<![\d\-])\d{5}-\d{4}(?![\d\-])", 0.6),
]

PATTERNS = {"DATE": DATE, "AGE": AGE, "PHONE": PHONE, "EMAIL": EMAIL, "URL": URL, "ID": ID, "ADDRESS": ADDRESS, "ZIP": ZIP}
