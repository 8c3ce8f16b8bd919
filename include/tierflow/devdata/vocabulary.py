"""The fake world's words: Indian names and cities, apps, banks and SMS senders, API paths, user agents.

Plain constants; the generators pick from them with the seeded random generator. All of it is fake.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = np.array(
    "Aarav Vivaan Aditya Vihaan Arjun Sai Reyansh Ayaan Krishna Ishaan Rohan Rahul Amit Suresh Ramesh "
    "Vikram Anil Sunil Rajesh Manoj Deepak Sanjay Karan Nikhil Pranav Harsh Yash Ankit Gaurav Varun "
    "Aadhya Ananya Diya Saanvi Pari Anika Navya Myra Sara Priya Neha Pooja Sneha Kavya Riya Meera "
    "Lakshmi Divya Shruti Swati Anjali Nisha Asha Sunita Geeta Rekha Fatima Ayesha Zoya Simran".split()
)
LAST_NAMES = np.array(
    "Sharma Verma Gupta Singh Kumar Patel Shah Mehta Reddy Rao Nair Menon Iyer Pillai Das Ghosh Bose "
    "Mukherjee Chatterjee Banerjee Yadav Jain Agarwal Bansal Mishra Pandey Tiwari Dubey Joshi Kulkarni "
    "Deshpande Patil Pawar Jadhav Naidu Choudhary Khan Ansari Siddiqui Fernandes DSouza Gill Sandhu".split()
)
CITIES = [
    ("Mumbai", "Maharashtra", 10),
    ("Pune", "Maharashtra", 5),
    ("Nagpur", "Maharashtra", 2),
    ("Delhi", "Delhi", 10),
    ("Gurugram", "Haryana", 4),
    ("Noida", "Uttar Pradesh", 4),
    ("Lucknow", "Uttar Pradesh", 3),
    ("Kanpur", "Uttar Pradesh", 2),
    ("Bengaluru", "Karnataka", 9),
    ("Mysuru", "Karnataka", 1),
    ("Chennai", "Tamil Nadu", 6),
    ("Coimbatore", "Tamil Nadu", 2),
    ("Hyderabad", "Telangana", 7),
    ("Kolkata", "West Bengal", 6),
    ("Ahmedabad", "Gujarat", 5),
    ("Surat", "Gujarat", 3),
    ("Jaipur", "Rajasthan", 4),
    ("Indore", "Madhya Pradesh", 3),
    ("Bhopal", "Madhya Pradesh", 2),
    ("Patna", "Bihar", 3),
    ("Kochi", "Kerala", 2),
    ("Thiruvananthapuram", "Kerala", 1),
    ("Chandigarh", "Chandigarh", 2),
    ("Bhubaneswar", "Odisha", 2),
    ("Guwahati", "Assam", 1),
]
APPS = [  # (package, name, category)
    ("com.phonepe.app", "PhonePe", "finance"),
    ("net.one97.paytm", "Paytm", "finance"),
    ("com.google.android.apps.nbu.paisa.user", "Google Pay", "finance"),
    ("com.snapwork.hdfc", "HDFC Bank", "finance"),
    ("com.sbi.lotusintouch", "YONO SBI", "finance"),
    ("com.csam.icici.bank.imobile", "iMobile Pay", "finance"),
    ("com.axis.mobile", "Axis Mobile", "finance"),
    ("com.kotak.mobile.banking", "Kotak Bank", "finance"),
    ("com.cred.club", "CRED", "finance"),
    ("com.zerodha.kite3", "Kite", "finance"),
    ("com.groww", "Groww", "finance"),
    ("com.dreamplug.androidapp", "Slice", "finance"),
    ("com.lenden.club", "LenDenClub", "finance"),
    ("com.pubg.imobile", "BGMI", "gaming"),
    ("com.dts.freefireth", "Free Fire", "gaming"),
    ("com.dream11.fantasy", "Dream11", "gaming"),
    ("com.mpl.androidapp", "MPL", "gaming"),
    ("com.ludo.king", "Ludo King", "gaming"),
    ("com.supercell.clashofclans", "Clash of Clans", "gaming"),
    ("com.rummycircle", "RummyCircle", "gaming"),
    ("com.whatsapp", "WhatsApp", "social"),
    ("com.instagram.android", "Instagram", "social"),
    ("com.facebook.katana", "Facebook", "social"),
    ("com.snapchat.android", "Snapchat", "social"),
    ("com.sharechat.app", "ShareChat", "social"),
    ("in.mohalla.moj", "Moj", "social"),
    ("org.telegram.messenger", "Telegram", "social"),
    ("com.twitter.android", "X", "social"),
    ("in.amazon.mShop.android.shopping", "Amazon", "shopping"),
    ("com.flipkart.android", "Flipkart", "shopping"),
    ("com.myntra.android", "Myntra", "shopping"),
    ("com.meesho.supply", "Meesho", "shopping"),
    ("com.application.zomato", "Zomato", "shopping"),
    ("in.swiggy.android", "Swiggy", "shopping"),
    ("com.jio.media.jiobeats", "JioSaavn", "entertainment"),
    ("com.netflix.mediaclient", "Netflix", "entertainment"),
    ("in.startv.hotstar", "Hotstar", "entertainment"),
    ("com.google.android.youtube", "YouTube", "entertainment"),
    ("com.spotify.music", "Spotify", "entertainment"),
    ("com.microsoft.office.outlook", "Outlook", "productivity"),
    ("com.google.android.gm", "Gmail", "productivity"),
    ("com.truecaller", "Truecaller", "productivity"),
    ("in.gov.uidai.maadhaarplus", "mAadhaar", "productivity"),
    ("com.digilocker.android", "DigiLocker", "productivity"),
    ("com.olacabs.customer", "Ola", "other"),
    ("com.ubercab", "Uber", "other"),
    ("com.rapido.passenger", "Rapido", "other"),
    ("com.makemytrip", "MakeMyTrip", "other"),
    ("in.irctc.railconnect", "IRCTC", "other"),
]
BANKS = [  # (sender, short name)
    ("VM-HDFCBK", "HDFC Bank"),
    ("AD-SBIINB", "SBI"),
    ("JD-ICICIB", "ICICI Bank"),
    ("VK-AXISBK", "Axis Bank"),
    ("BZ-KOTAKB", "Kotak Bank"),
    ("AX-PNBSMS", "PNB"),
    ("VM-BOBTXN", "Bank of Baroda"),
    ("JM-IDFCFB", "IDFC FIRST"),
]
OTHER_SENDERS = ["AD-SWIGGY", "VM-AMAZON", "JD-FLPKRT", "AX-JIOINF", "VK-AIRTEL", "BZ-ZOMATO", "JM-OLACAB"]
API_PATHS = [
    ("GET", "/v2/customers/{id}/profile", 0.16),
    ("GET", "/v2/loans/{id}", 0.14),
    ("POST", "/v2/auth/otp", 0.09),
    ("POST", "/v2/auth/verify", 0.08),
    ("GET", "/v2/offers", 0.12),
    ("POST", "/v2/loans/apply", 0.04),
    ("POST", "/v2/payments/initiate", 0.06),
    ("GET", "/v2/payments/{id}/status", 0.08),
    ("POST", "/v2/device/apps", 0.05),
    ("POST", "/v2/device/sms", 0.05),
    ("PUT", "/v2/customers/{id}/kyc", 0.03),
    ("PATCH", "/v2/customers/{id}/address", 0.02),
    ("GET", "/v2/emis/{id}/schedule", 0.07),
    ("DELETE", "/v2/sessions/{id}", 0.01),
]
USER_AGENTS = [
    "okhttp/4.12.0 StashApp/7.4.1 (Android 14)",
    "okhttp/4.12.0 StashApp/7.3.0 (Android 13)",
    "okhttp/4.9.3 StashApp/6.9.2 (Android 11)",
    "StashApp/7.4.0 (iPhone; iOS 17.5)",
    "Mozilla/5.0 (Linux; Android 12) Chrome/126.0 Mobile",
    "Mozilla/5.0 (Windows NT 10.0) Chrome/127.0",
]
CAMPAIGN_THEMES = [
    "EMI_REMINDER",
    "LIMIT_UPGRADE",
    "FESTIVE_OFFER",
    "REACTIVATION",
    "KYC_NUDGE",
    "BNPL_CASHBACK",
]

EMAIL_DOMAINS = np.array(["gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com"])
UPI_HANDLES = [
    "swiggy@icici",
    "amazon@apl",
    "merchant@okaxis",
    "zomato@hdfcbank",
    "rent.pay@ybl",
    "bharatpe@yesbank",
]
PAYMENT_FAILURE_REASONS = np.array(
    [
        "insufficient_funds",
        "mandate_not_registered",
        "bank_timeout",
        "upi_pin_incorrect",
        "account_frozen",
        "limit_exceeded",
    ]
)
